# Helpers of bench/report: processes, servers, workloads, wrk, the idle client, the report.
