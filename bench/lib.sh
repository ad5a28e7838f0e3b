# Shell helpers the bench scripts share (sourced; the script sets $TMP, its temp dir with *.log).
fail() { echo "$1" >&2; for f in "$TMP"/*.log; do echo "== $f"; tail -5 "$f"; done >&2; exit 1; }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # until something accepts on 127.0.0.1:$1 (10 s at most)
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  fail "nothing listens on $1"
}
