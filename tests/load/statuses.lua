-- wrk script: POSTs $FL_BODY with $FL_TOKEN, counts replies by status across threads and
-- prints "status CODE COUNT" lines and the socket errors at the end.
local threads = {}

wrk.method = "POST"
wrk.body = os.getenv("FL_BODY") or "{}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("FL_TOKEN") or "")

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    counts = {}
end

function response(status, headers, body)
    counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
    local total = {}
    for _, t in ipairs(threads) do
        for code, n in pairs(t:get("counts")) do
            total[code] = (total[code] or 0) + n
        end
    end
    for code, n in pairs(total) do
        io.write(string.format("status %d %d\n", code, n))
    end
    local e = summary.errors
    io.write(string.format("errors connect=%d read=%d write=%d timeout=%d\n", e.connect, e.read,
                           e.write, e.timeout))
end
