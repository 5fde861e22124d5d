-- wrk script: GET a random frame URL from a list on every request.
-- Arguments after `--`: a file of URL paths (one a line), then "fixed" or "vary".
-- With "vary", {C} and {W} in a path become a random window center (-500..500) and
-- width (100..2000), so that nearly every request asks for a picture never made before.
-- Headers given to wrk with -H (a login cookie, Accept) are sent with every request.

local threads_started = 0

function setup(thread)
  threads_started = threads_started + 1
  thread:set("thread_number", threads_started)
end

function init(args)
  paths = {}
  for line in io.lines(args[1]) do
    if #line > 0 then
      paths[#paths + 1] = line
    end
  end
  vary = args[2] == "vary"
  -- each wrk thread draws its own sequence of frames
  math.randomseed(os.time() * 1000 + thread_number)
end

function request()
  local path = paths[math.random(1, #paths)]
  if vary then
    path = path:gsub("{C}", tostring(math.random(-500, 500)))
    path = path:gsub("{W}", tostring(math.random(100, 2000)))
  end
  return wrk.format("GET", path)
end
