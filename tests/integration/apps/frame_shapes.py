"""Python frames of every size around a suspend: a first frame from a few slots to far more than
a request's small first frame chunk (and than a 16 KiB one), under calls a few or many levels
deep. Every local must hold its value after the switches."""
_made = {}


def _with_locals(n):
    # def f(suspend, depth): v0 = 0; v1 = 1; ...; suspend(); return the locals that kept their value
    if n not in _made:
        names = [f'v{i}' for i in range(n)]
        src = ['def f(suspend, depth):']
        src += [f'    {v} = {i}' for i, v in enumerate(names)]
        src += ['    deep(depth, suspend)',
                f'    return sum(1 for i, v in enumerate(({", ".join(names)},)) if v == i)']
        ns = {'deep': _deep}
        exec('\n'.join(src), ns)
        _made[n] = ns['f']
    return _made[n]


def _deep(depth, suspend):
    if depth == 0:
        suspend()
        return 0
    pad = [depth] * 4
    got = _deep(depth - 1, suspend)
    assert pad == [depth] * 4
    return got + 1


def check(query, suspend):
    """query: 'LOCALS,DEPTH'. Returns 'LOCALS,DEPTH ok' when every value survived."""
    n, depth = (int(x) for x in query.split(','))
    kept = _with_locals(n)(suspend, depth)
    return f'{n},{depth} ' + ('ok' if kept == n else f'lost {n - kept}')
