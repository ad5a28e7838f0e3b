"""docs/benchmarks.md and its plots from the collected rounds."""
import math
import os
import statistics

from . import servers, wrk
from .workloads import BY_NAME

S = servers


def _med(xs):
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return statistics.median(xs) if xs else float('nan')


def aggregate(rounds):
    """rounds: list of dicts {workload, mode, server, round, ...}. Returns {(w, m, s): summary}."""
    groups = {}
    for r in rounds:
        groups.setdefault((r['workload'], r['mode'], r['server']), []).append(r)
    out = {}
    for key, rs in groups.items():
        ok = [r for r in rs if 'error' not in r]
        agg = dict(n=len(ok), failed=[r['error'] for r in rs if 'error' in r],
                   per_round=[r['rps'] for r in ok], by_round={r.get('round'): r['rps'] for r in ok})
        for f in ('rps', 'p50', 'p99', 'mean', 'rss_kb', 'rss0_kb', 'accept_ms', 'first_ms', 'extra_kb', 'cpu_us',
                  'wrk_cpu_us', 'wrk_busy'):
            agg[f] = _med([r.get(f) for r in ok])
        agg['errors'] = '; '.join(sorted({r['errors'] for r in ok if r.get('errors')}))
        agg['non2xx'] = sum(r.get('non2xx', 0) for r in ok)
        if any('held' in r for r in ok):
            agg['held'] = min(r['held'] for r in ok if 'held' in r)
            agg['idle_ok'] = min(r['idle_ok'] for r in ok if 'idle_ok' in r)
        out[key] = agg
    return out


def _f(v, fmt):
    return '—' if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def _rel(path):
    return './uwsgi' if path == S.OURS else path.replace(S.TOP + '/', '')


def _ratio(agg, w, m, s):
    """Median over rounds of (req/s of s / req/s of uWSGI in the same round): the two ran
    back to back, so a disturbed round moves both. Ratio of medians when no round pairs up."""
    ref = agg.get((w, m, 'uwsgi'))
    me = agg.get((w, m, s))
    if not ref or not me or not ref['n'] or not me['n'] or not ref['rps']:
        return float('nan')
    mine, theirs = me.get('by_round') or {}, ref.get('by_round') or {}
    pairs = [mine[r] / theirs[r] for r in mine if r is not None and theirs.get(r)]
    return _med(pairs) if pairs else me['rps'] / ref['rps']


def workload_table(agg, wl):
    extra = {'sleep': 'RSS per in-flight request KB · req/s as a share of ideal (the run time includes '
                      "each connection's first sleep) · sleep / mean latency",
             'idle': 'RSS per idle conn KB · held'}.get(wl.kind)
    head = ['mode', 'server', 'req/s', '× uWSGI', 'server CPU µs/req', 'p50 ms', 'p99 ms', 'worker RSS MB']
    head += [extra] if extra else []
    head += ['start-up ms: accepts / 1st response', 'rounds (req/s)', 'errors']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for m in S.MODES:
        for s in S.SERVERS:
            a = agg.get((wl.name, m, s))
            if not a:
                continue
            row = [m, S.LABEL[s]]
            if not a['n']:
                lines.append('| ' + ' | '.join(row + ['failed: ' + a['failed'][0][:80].replace('|', '/')
                                                      .replace('\n', ' ')]) + ' |')
                continue
            row += [_f(a['rps'], ',.0f'), _f(_ratio(agg, wl.name, m, s), '.2f'), _f(a.get('cpu_us', float('nan')), '.0f'),
                    _f(a['p50'], '.2f'),
                    _f(a['p99'], '.2f'), _f(a['rss_kb'] / 1024, '.1f')]
            if wl.kind == 'sleep':
                ideal = wl.ideal.get(m)
                pct = f" · {a['rps'] / ideal * 100:.0f}% of ideal" if ideal else ''
                if ideal and a.get('mean') == a.get('mean'):  # not NaN (older saved runs lack it)
                    sleep_ms = wl.conns / ideal * 1000
                    pct += f" · {sleep_ms / a['mean'] * 100:.0f}%"
                row.append(_f(a['extra_kb'], '.1f') + pct)
            elif wl.kind == 'idle':
                row.append(f"{_f(a['extra_kb'], '.2f')} · {a.get('held', 0):,} / {a.get('idle_ok', 0):,}")
            row += [f"{_f(a['accept_ms'], '.0f')} / {_f(a['first_ms'], '.0f')}",
                    ', '.join(f'{x:,.0f}' for x in a['per_round'])]
            errs = a['errors'] + (f" non-2xx {a['non2xx']}" if a['non2xx'] else '')
            row.append(errs.replace('|', '/') or '')
            lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def ratio_matrix(agg, names):
    lines = ['| workload | ' + ' | '.join(S.MODES) + ' |', '|---|' + '---|' * len(S.MODES)]
    for n in names:
        cells = [_f(_ratio(agg, n, m, 'ours'), '.2f') for m in S.MODES]
        lines.append(f'| {n} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def plots(agg, names, nginx, img_dir):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    os.makedirs(img_dir, exist_ok=True)
    colors = {'ours': '#1f77b4', 'uwsgi': '#ff7f0e', 'gunicorn': '#2ca02c', 'pywsgi': '#9467bd'}
    files = []
    for metric, ylabel, fname, log in (('rps', 'requests/s', 'throughput.png', False),
                                       ('p99', 'p99 latency, ms (log)', 'p99.png', True)):
        cols = 2
        rows = (len(names) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(12, 3.4 * rows), squeeze=False)
        for ax, n in zip(axes.flat, names):
            wl = BY_NAME[n]
            modes = [m for m in S.MODES if m in wl.modes]
            width = 0.8 / len(S.SERVERS)
            for i, s in enumerate(S.SERVERS):
                xs, ys = [], []
                for j, m in enumerate(modes):
                    a = agg.get((n, m, s))
                    if a and a['n'] and not math.isnan(a[metric]):
                        xs.append(j + (i - (len(S.SERVERS) - 1) / 2) * width)
                        ys.append(a[metric])
                if xs:
                    ax.bar(xs, ys, width, label=S.LABEL[s], color=colors[s])
            if metric == 'rps' and nginx and n == 'hello-keepalive':
                ax.axhline(nginx['rps'], color='grey', ls='--', lw=1, label='nginx return 200')
            ax.set_xticks(range(len(modes)))
            ax.set_xticklabels(modes)
            ax.set_title(wl.title, fontsize=9)
            ax.set_ylabel(ylabel, fontsize=8)
            if log:
                ax.set_yscale('log')
            ax.tick_params(labelsize=8)
        for ax in list(axes.flat)[len(names):]:
            ax.axis('off')
        handles = {}
        for ax in axes.flat:
            for h, l in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(l, h)
        if handles:
            fig.legend(list(handles.values()), list(handles.keys()), loc='upper center',
                       ncol=len(handles), fontsize=9)
        fig.tight_layout(rect=(0, 0, 1, 0.96))
        path = os.path.join(img_dir, fname)
        fig.savefig(path, dpi=80)
        plt.close(fig)
        files.append(path)
    return files


def commands_section(names):
    out = ['Servers (PORT is a free port; `{n}` threads / async cores / greenlets: 4 threads (100 in '
           'sleep-threads), 1,000 for ugreen and greenlet, 10,000 for gevent, 10,100 in the idle '
           'test):', '', '```']
    for m in S.MODES:
        for s in S.SERVERS:
            if S.applies(s, m):
                for ka in ((False, True) if s == 'uwsgi' and m in ('sync', 'threads') else (False,)):
                    argv = S.argv(s, m, 'PORT', 'APP.py', ka, '{n}')
                    tag = f'{m:8s} {s:8s}' + (' (keep-alive rows)' if ka else '')
                    out.append(f'# {tag}\n' + ' '.join(_rel(a) for a in argv))
    out.append('# loopback ceiling: nginx -p TMP -c TMP/nginx.conf  (worker_processes 1; daemon off; '
               'multi_accept on; listen ... deferred; return 200 "Hello World\\n"; access_log off)')
    out.append('# C ceiling of the hello rows (DELAY_MS 0) and the sleep rows (100): '
               'cc -O2 -o c_ceiling bench/c_ceiling.c; c_ceiling PORT DELAY_MS')
    out += ['```', '', 'Load (`wrk` 4.1, one thread, on loopback):', '', '```']
    for n in names:
        wl = BY_NAME[n]
        cmd = ' '.join(_rel(a) if ' ' not in a else f"'{a}'"
                       for a in wrk.command('PORT', wl.conns, wl.wrk_args, 'D'))
        if wl.kind == 'idle':
            cmd = 'bench/idle_client.py PORT 10000 &   # then\n' + cmd
        out.append(f'# {n}: {", ".join(sorted(set(wl.app.values())))}\n{cmd}')
    out.append('```')
    return '\n'.join(out)


def _reference(nginx_rounds, key, workload):
    """Medians (rps, mean, p50, cpu_us) of a reference server's rounds on a workload (key:
    'c_ceiling', which also takes the 'sleep_ceiling' rounds of runs saved before the C ceiling
    got its delay argument, or 'raw_gevent'), or None when it did not run."""
    keys = (key, 'sleep_ceiling') if key == 'c_ceiling' else (key,)
    rs = [r for r in nginx_rounds if any(r.get(k) for k in keys) and r.get('workload') == workload
          and 'error' not in r]
    if not rs:
        return None
    return {f: _med([r.get(f) for r in rs])
            for f in ('rps', 'mean', 'p50', 'cpu_us', 'wrk_cpu_us', 'wrk_busy')}


def _share_of_ceiling(agg, workload, rps, mean):
    """': this project's gevent row is X% of the ceiling's req/s, Y% of its latency', or ''."""
    ours = agg.get((workload, 'gevent', 'ours'))
    if not ours or not ours.get('rps') or not rps:
        return ''
    out = f": this project's gevent row gets {ours['rps'] / rps * 100:.0f}% of the ceiling's req/s"
    if mean and ours.get('mean') and ours['mean'] == ours['mean']:  # not NaN
        out += f" at {mean / ours['mean'] * 100:.0f}% of its latency (ceiling mean / ours)"
    return out


def _hello_ceiling(agg, wl, ceil):
    """The paragraph on bench/c_ceiling.c answering at once (the hello rows)."""
    close = not wl.keepalive
    out = ("C ceiling for this load (`bench/c_ceiling.c PORT 0`: one C thread on epoll, no HTTP "
           "parsing, no Python; deferred accept, read, answer at once with the bytes this "
           "project's server sends for hello.py, "
           + ('close gracefully' if close else 'keep the connection') +
           f"): **{ceil['rps']:,.0f} req/s** at {_f(ceil['cpu_us'], '.0f')} µs server CPU per "
           f"request, p50 {_f(ceil['p50'], '.2f')} ms, in the same run")
    ref = agg.get((wl.name, 'sync', 'uwsgi'))
    if ref and ref['n'] and ref['rps']:
        out += (f"; that is {ceil['rps'] / ref['rps']:.2f}× uWSGI sync ({ref['rps']:,.0f} req/s"
                f" at {_f(ref['cpu_us'], '.0f')} µs/req)")
    shares = [f"{m} {a['rps'] / ceil['rps'] * 100:.0f}%" for m in S.MODES
              for a in [agg.get((wl.name, m, 'ours'))] if a and a['n'] and ceil['rps']]
    if shares:
        out += ". This project's rows get " + ', '.join(shares) + ' of its req/s'
    out += '.'
    busy, wrk_us = ceil.get('wrk_busy'), ceil.get('wrk_cpu_us')
    if busy == busy and wrk_us == wrk_us and busy is not None and wrk_us is not None:  # not NaN
        rows = sorted(a['wrk_cpu_us'] for (w, _, _), a in agg.items()
                      if w == wl.name and a['n'] and a.get('wrk_cpu_us') == a.get('wrk_cpu_us'))
        others = f' ({rows[0]:.0f}–{rows[-1]:.0f} µs against the servers\' rows)' if rows else ''
        out += (f" wrk's one thread was busy {busy * 100:.0f}% of a core against it, at "
                f"{wrk_us:.0f} µs of its own CPU per request{others}")
        if close and busy >= 0.85:
            out += (': with a new connection per request the client is the limit, and the '
                    "kernel's connection set-up and tear-down take much of the second core, so a "
                    'server that does almost nothing gets little more than the others. Rows near '
                    '100% are at what this machine allows (a few % above is noise, or how replies '
                    "interleave with wrk's work: see the nginx paragraph above); the servers differ "
                    'in server CPU µs/req more than in req/s')
        out += '.'
    return out


def document(meta, rounds, nginx_rounds, names, img_dir, doc_path):
    agg = aggregate(rounds)
    nginx = nginx_close = None
    for close in (False, True):
        ok = [r for r in nginx_rounds if 'error' not in r and bool(r.get('close')) == close
              and not r.get('raw_gevent') and not r.get('sleep_ceiling')
              and not r.get('c_ceiling')]
        if ok:
            med = {f: _med([r[f] for r in ok]) for f in ('rps', 'p50', 'p99', 'rss_kb')}
            if close:
                nginx_close = med
            else:
                nginx = med
    pngs = plots(agg, names, nginx, img_dir)
    rel_img = os.path.relpath(img_dir, os.path.dirname(doc_path))
    md = ['# Benchmarks: this server against uWSGI 2.0.21, gunicorn and gevent.pywsgi', '',
          'Generated by `bench/report` (`make bench`). Every figure below comes from one run on this '
          'machine, servers alternating round by round (the order reverses every round), each '
          'server with **one worker process**, logging off, a 1,024 listen queue and the same app '
          'file. Each cell is the median over the rounds.', '',
          f"- date: {meta['date']}",
          f"- machine: {meta['nproc']} cores, {meta['cpu']}, Linux {meta['kernel']}, "
          f"load average at start {meta['load']}",
          f"- rounds: {meta['rounds']} × {meta['duration']} s per server and workload; "
          f"whole run {meta['elapsed']:.0f} s",
          f"- command: `{meta['command']}`", '',
          '**Noise.** The machine has 2 cores that wrk, the server and anything else running '
          'share (anything else running shows in the load average above), so absolute numbers '
          'move by 10–30 % between runs. Read the ratios (this project / uWSGI in the same mode, '
          'same workload, same run), not the absolute figures.', '',
          'Columns: req/s from wrk; × uWSGI = req/s divided by Debian uWSGI 2.0.21 in the same mode '
          'and round (the two ran back to back), median over the rounds; '
          'p50/p99 from `wrk --latency`; worker RSS = peak VmRSS of the worker process (the '
          "master's child; the process itself for gevent.pywsgi) sampled every 0.2 s under load; "
          'start-up = process start until a TCP connect succeeds / until the first 200 response '
          'arrives.', '',
          '**Connection semantics.** Debian uWSGI on `--http-socket` closes the connection after '
          'every response, so the `-close` rows send `Connection: close` to every server and '
          'compare connection set-up + request. The `-keepalive` rows run uWSGI on '
          '`--http11-socket` (its keep-alive HTTP socket, which keeps a connection only when the '
          'app sets Content-Length, so every app here does) **in sync and threads mode only**: with '
          '`--async` (ugreen, greenlet) its worker segfaults as soon as a kept connection is '
          'closed, and under `--gevent` it serves ~2 req/s, so in those modes uWSGI stays on '
          '`--http-socket` and closes after every response even in the keep-alive rows (what a '
          'user of those modes gets). In sync mode uWSGI serves one kept connection at a time '
          '(the others wait; with `--threads 4`, four), hence its odd latency there. This project keeps HTTP/1.1 '
          'connections open on a plain `--http-socket` in every mode, so idle connections do '
          'not hold a worker or core.', '',
          "The `read` socket errors wrk reports for uWSGI's closing rows are one per response: "
          'the response arrives complete and is counted, then the connection is reset.', '',
          'Debian uWSGI is started from bench/apps, not the repo root: it loads `./NAME_plugin.so` '
          "from the working directory before its own plugin directory, and the repo root holds this "
          "project's `ugreen_plugin.so`.", '',
          '## This project / uWSGI 2.0.21, req/s ratio per mode', '',
          ratio_matrix(agg, names), '']
    if nginx or nginx_close:
        md += ['## Loopback ceiling (keep-alive) and nginx with close', '']
    if nginx:
        md += [f"nginx `return 200`, keep-alive, one worker, `wrk -t1 -c50`: **{nginx['rps']:,.0f} "
               f"req/s**, p50 {nginx['p50']:.2f} ms, p99 {nginx['p99']:.2f} ms, worker RSS "
               f"{nginx['rss_kb'] / 1024:.1f} MB. No Python server can pass this on this machine; "
               'compare it with the hello-keepalive rows.', '']
    if nginx_close:
        md += [f"nginx `return 200` with `Connection: close` (a new TCP connection per request, closed "
               f"gracefully; `multi_accept on`, `deferred`): **{nginx_close['rps']:,.0f} req/s**, "
               f"p50 {nginx_close['p50']:.2f} ms. For scale, not a ceiling: with a new connection per "
               'request, wrk and the kernel\'s connection set-up and tear-down take most of the 2 '
               'cores, and how much is left depends on how the server\'s accepts and replies '
               'interleave with wrk\'s work (wrk does less per request when replies come in '
               'batches), so a server can pass it. Compare server CPU µs/req in those rows.', '']
    md += ['## Plots', '']
    for p in pngs:
        md.append(f'![{os.path.basename(p)[:-4]}]({rel_img}/{os.path.basename(p)})')
        md.append('')
    for n in names:
        wl = BY_NAME[n]
        md += [f'## {n}: {wl.title}', '']
        if wl.note:
            md += [wl.note, '']
        ideal = wl.ideal.get('gevent')  # the 0.1 s sleep of the references (the async-API rows sleep 1 s)
        ceil = _reference(nginx_rounds, 'c_ceiling', n)
        if ceil and wl.ceiling_ms == 0:
            md += [_hello_ceiling(agg, wl, ceil), '']
        elif ceil and ideal:
            rps, mean = ceil['rps'], ceil['mean']
            sleep_ms = wl.conns / ideal * 1000
            md += [f"Ceiling of this machine for this load (`bench/c_ceiling.c`: one C thread "
                   f"on epoll, no HTTP parsing, no Python; read, answer {sleep_ms:.0f} ms later): "
                   f"**{rps:,.0f} req/s** ({rps / ideal * 100:.0f}% of ideal), mean latency "
                   f"{mean:.1f} ms ({sleep_ms / mean * 100:.0f}% of ideal by latency), in the same "
                   'run. The rest of ideal goes to wrk and the kernel; no server gets past this. '
                   'Compare the gevent rows (same sleep)' + _share_of_ceiling(agg, n, rps, mean)
                   + '.',
                   '']
        raw = _reference(nginx_rounds, 'raw_gevent', n)
        if raw and ideal:
            rps, mean = raw['rps'], raw['mean']
            md += [f"Reference for gevent: the least a pure-Python gevent server can do here "
                   f"(`bench/raw_gevent_server.py`: a greenlet per connection, no HTTP parsing, "
                   f"no WSGI; read, gevent.sleep(0.1), write) gets **{rps:,.0f} req/s** "
                   f"({rps / ideal * 100:.0f}% of ideal), mean latency {mean:.1f} ms, in the same "
                   'run. It shows what gevent itself (its hub, timers and greenlet switches) and '
                   'the machine leave; a WSGI server does more per request.', '']
        if wl.kind == 'sleep' and meta.get('floor'):
            fl = meta['floor']
            md += [f"For scale (`bench/greenlet_floor.py`, this machine): a bare greenlet suspended "
                   f"in `gevent.sleep` costs {fl['c_only_kb']} KB of RSS when started on a C "
                   f"function and {fl['python_kb']} KB when it runs one small Python function "
                   '(CPython 3.11 gives every greenlet its own 16 KiB frame chunk, one touched '
                   'page at least). This project starts a request\'s frames in a 1 KiB chunk '
                   'instead (docs/gevent.md), so it can go below the second figure.', '']
        md += [f'`wrk -c{wl.conns}`; modes: {", ".join(wl.modes)}.', '', workload_table(agg, wl), '']
    md += ['## Commands', '', commands_section(names), '',
           'Run it again: `make bench` (everything; `make bench-deps` installs Debian uWSGI and its '
           'plugins, gunicorn, matplotlib), or `bench/report --workloads hello-close,sleep --modes '
           'gevent --rounds 1 --duration 2 --out /tmp/b.md --img-dir /tmp/img` for a subset. '
           '`bench/report --list` lists workloads.', '']
    with open(doc_path, 'w') as f:
        f.write('\n'.join(md))
    return agg
