# Runs inside `manage.py shell` (checks.django_script): the Django snippets of the checks in
# RB_CHECKS (a JSON list of code), each in a fresh namespace. What one prints goes under
# "@@django N", or its exception under "@@django-error N" (a snippet that raises fails the check,
# it is no value). Names start with _c: this may follow other code in the same shell.
import contextlib as _ccl
import io as _cio
import json as _cjson
import os as _cos
import sys as _csys

for _ci, _ccode in enumerate(_cjson.loads(_cos.environ["RB_CHECKS"])):
    _cbuf = _cio.StringIO()
    try:
        with _ccl.redirect_stdout(_cbuf):
            exec(_ccode, {"__name__": "__deploy_check__"})
    except Exception as _ce:  # noqa: BLE001 - any error of a snippet is that check's result
        print("@@django-error %d" % _ci)
        print("%s: %s" % (type(_ce).__name__, _ce))
        continue
    print("@@django %d" % _ci)
    print(_cbuf.getvalue())
_csys.stdout.flush()
