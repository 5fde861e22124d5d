"""The life of a referral (remiss) as a table: which step may follow which state.

    draft ──send──▶ sent ──accept──▶ accepted ──report──▶ in_review ──sign──▶ answered
      │               │                 │                    │                  │
      └──withdraw──▶ withdrawn ◀──withdraw                   │              addendum
                      │                 └───────close────────┴─────close──────▶ closed
                      └──decline──▶ declined

Accepting makes the referral a care relation (app/policy.py); closing, declining and
withdrawing end it or never begin it. Who may take a step is the policy's question
(`ACTION_OF`); whether the step fits the state is this table's. No Flask, no database.
"""

from __future__ import annotations

from samsyn.errors import Conflict

STATES = ("draft", "sent", "accepted", "declined", "in_review", "answered", "closed", "withdrawn")
PRIORITIES = ("acute", "urgent", "routine")

# step -> (states it may start from, state it leads to; None keeps the state)
STEPS: dict[str, tuple[frozenset[str], str | None]] = {
    "send": (frozenset({"draft"}), "sent"),
    "withdraw": (frozenset({"draft", "sent"}), "withdrawn"),
    "accept": (frozenset({"sent"}), "accepted"),
    "decline": (frozenset({"sent"}), "declined"),
    "assign": (frozenset({"sent", "accepted", "in_review"}), None),
    "report": (frozenset({"accepted", "in_review"}), "in_review"),
    "sign": (frozenset({"accepted", "in_review"}), "answered"),
    "addendum": (frozenset({"answered"}), None),
    "close": (frozenset({"accepted", "in_review", "answered"}), "closed"),
}

# step -> the policy's action for it
ACTION_OF: dict[str, str] = {
    "send": "withdraw_referral",  # the requesting side's own step, like withdrawing
    "withdraw": "withdraw_referral",
    "accept": "accept_referral",
    "decline": "decline_referral",
    "assign": "assign_referral",
    "report": "answer_referral",
    "sign": "sign_referral",
    "addendum": "sign_referral",
    "close": "close_referral",
}


class WrongState(Conflict):
    code = "wrong_state"


def after(status: str, step: str) -> str:
    """The state a step leads to from `status`, or a 409 naming why it cannot be taken."""
    starts, leads_to = STEPS[step]
    if status not in starts:
        raise WrongState(
            f"a referral that is {status} cannot be {PAST.get(step, step)}",
            {"status": status},
        )
    return leads_to or status


PAST = {
    "send": "sent",
    "withdraw": "withdrawn",
    "accept": "accepted",
    "decline": "declined",
    "assign": "assigned",
    "report": "answered yet (accept it first)",
    "sign": "signed",
    "addendum": "amended before it is signed",
    "close": "closed",
}
