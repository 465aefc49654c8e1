-- wrk's `done` hook for bench/guard_cost.sh: prints the latency percentiles
-- `wrk --latency` leaves out (it prints 50, 75, 90 and 99 %, not 95 %), in
-- microseconds, and the count of answers that were not 2xx or 3xx, one
-- `name value` line each.
done = function(summary, latency, requests)
    for _, p in ipairs({ 50, 95, 99 }) do
        io.write(string.format("percentile_us %d %d\n", p, latency:percentile(p)))
    end
    io.write(string.format("non_2xx_3xx %d\n", summary.errors.status))
    io.write(string.format("socket_errors %d\n",
        summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
