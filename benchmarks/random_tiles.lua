-- wrk script: GET a random tile of one Deep Zoom level on every request.
-- Arguments after `--`: URL prefix of the tiles (e.g. /dzi/<id>_files), level, columns, rows.
-- Headers given to wrk with -H (a login cookie, later) are sent with every request.

local threads_started = 0

function setup(thread)
  threads_started = threads_started + 1
  thread:set("thread_number", threads_started)
end

function init(args)
  prefix = args[1]
  level = args[2]
  columns = tonumber(args[3])
  rows = tonumber(args[4])
  -- each wrk thread draws its own sequence of tiles
  math.randomseed(os.time() * 1000 + thread_number)
end

function request()
  local col = math.random(0, columns - 1)
  local row = math.random(0, rows - 1)
  return wrk.format("GET", prefix .. "/" .. level .. "/" .. col .. "_" .. row .. ".jpeg")
end
