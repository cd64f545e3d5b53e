"""The Lua scripts behind presence (accounts/presence.py, which documents the keys): one
script per change, so that a user's records, the indexes of online users and the last
announced status change in one step. The scripts of a change (SETTLE, BUSY) return the newly
announced status, or false when the status the partners know did not change."""

# Shared by every script: `status_of` is what "online" means everywhere (profiles, lists,
# matchmaking, calls, typing); `announce` is the compare-and-set that lets exactly one change
# through to the partners, however many devices and processes report the same state.
STATUS_FUNCTIONS = """
local function status_of(present, busy)
  if redis.call('exists', present) == 0 then return 'offline' end
  if redis.call('exists', busy) == 1 then return 'busy' end
  return 'online'
end
local function announce(key, status, keep)
  local before = redis.call('get', key) or 'offline'
  if status == 'offline' then
    redis.call('del', key)
  else
    redis.call('set', key, status, 'ex', keep)
  end
  if before == status then return false end
  return status
end
"""

# KEYS: user key and busy key of each user, in turn. Returns each user's status.
STATUSES = (
    STATUS_FUNCTIONS
    + """
local out = {}
for i = 1, #KEYS, 2 do out[#out + 1] = status_of(KEYS[i], KEYS[i + 1]) end
return out
"""
)

# KEYS: sockets, user key, busy, announced, online index, until index, geo.
# ARGV: user id, now ('' for Redis's clock), socket ('' for none), socket's score ('' closes
# it now), status ('' keeps the stored one), record seconds, busy TTL, geo mode ('' none,
# 'set', 'nx' only if unset, 'del'), lon, lat, '1' to close every socket of the user now.
# Returns the newly announced status, or false when it did not change.
# "Now" is Redis's clock unless a caller pins it: scripts run one after another, so a socket
# closed by one process is never found still alive by a script that runs after it but whose
# process read its own clock a moment earlier (it would announce the user online again).
SETTLE = (
    STATUS_FUNCTIONS
    + """
local uid, now, socket = ARGV[1], tonumber(ARGV[2]), ARGV[3]
if not now then
  local clock = redis.call('time')
  now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
end
local record, mode = tonumber(ARGV[6]), ARGV[8]
if ARGV[11] == '1' then
  local alive = redis.call('zrangebyscore', KEYS[1], string.format('(%.17g', now), '+inf')
  for _, member in ipairs(alive) do redis.call('zadd', KEYS[1], now, member) end
end
if socket ~= '' then
  redis.call('zadd', KEYS[1], tonumber(ARGV[4]) or now, socket)
  redis.call('zremrangebyscore', KEYS[1], '-inf', now - record)
  redis.call('expire', KEYS[1], record)
end
local top = redis.call('zrange', KEYS[1], -1, -1, 'withscores')
local last = top[2] and tonumber(top[2]) or 0
if last > now then
  local status = ARGV[5]
  if status == '' then status = redis.call('get', KEYS[2]) or 'online' end
  redis.call('set', KEYS[2], status, 'pxat', math.floor(last * 1000))
  if socket ~= '' and (tonumber(ARGV[4]) or now) > now then
    -- a live socket keeps its user's busy mark from fading during a call
    redis.call('expire', KEYS[3], ARGV[7])
  end
  redis.call('zadd', KEYS[5], uid, uid)
  redis.call('zadd', KEYS[6], last, uid)
  if mode == 'set' then
    redis.call('geoadd', KEYS[7], ARGV[9], ARGV[10], uid)
  elseif mode == 'nx' then
    redis.call('geoadd', KEYS[7], 'nx', ARGV[9], ARGV[10], uid)
  elseif mode == 'del' then
    redis.call('zrem', KEYS[7], uid)
  end
else
  redis.call('del', KEYS[2])
  redis.call('zrem', KEYS[5], uid)
  redis.call('zrem', KEYS[6], uid)
  redis.call('zrem', KEYS[7], uid)
end
return announce(KEYS[4], status_of(KEYS[2], KEYS[3]), record)
"""
)

# KEYS: busy, user key, announced. ARGV: call id, busy TTL, 'set' or 'clear', record seconds.
BUSY = (
    STATUS_FUNCTIONS
    + """
if ARGV[3] == 'set' then
  redis.call('set', KEYS[1], ARGV[1], 'ex', ARGV[2])
elseif redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
end
return announce(KEYS[3], status_of(KEYS[2], KEYS[1]), ARGV[4])
"""
)
