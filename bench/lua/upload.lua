-- POSTs a 1 MiB body on every request (wrk adds the Content-Length).
wrk.method = "POST"
wrk.body = string.rep("x", 1048576)
wrk.headers["Content-Type"] = "application/octet-stream"
