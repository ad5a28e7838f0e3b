"""--uid/--gid as uWSGI: the user's supplementary groups (/etc/group) are set too (www-data in
ssl-cert reads the TLS key), unless --no-initgroups."""
import grp
import os
import pwd

import pytest

from conftest import app_path


def _user_with_supplementary_group():
    for g in grp.getgrall():
        for name in g.gr_mem:
            try:
                pw = pwd.getpwnam(name)
            except KeyError:
                continue
            if pw.pw_gid != g.gr_gid:
                return pw, g.gr_gid
    return None, None


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to change uid')
def test_uid_gid_set_the_users_supplementary_groups(uwsgi_server):
    pw, extra = _user_with_supplementary_group()
    if pw is None:
        pytest.skip('no user with a supplementary group in /etc/group')
    for args, want_extra in (([], True), (['--no-initgroups'], False)):
        srv = uwsgi_server('--wsgi-file', app_path('groups_app.py'), '--uid', pw.pw_name, '--gid',
                           str(pw.pw_gid), *args)
        status, _, body = srv.request('GET', '/')
        uid, gid, groups = body.decode().split(' ')
        assert (status, int(uid), int(gid)) == (200, pw.pw_uid, pw.pw_gid)
        groups = {int(g) for g in groups.split(',') if g}
        assert (extra in groups) == want_extra, (args, groups)
        assert 0 not in groups  # never root's groups
        srv.stop()
