# shellcheck shell=bash
# manage ARG...: the app's manage.py as app.prefix runs it: in its directory, with its env file
# and settings module. Set by app.script_env: RB_APP_DIR, RB_APP_ENV_FILE, RB_APP_SETTINGS,
# RB_APP_PYTHON, RB_APP_MANAGE.
manage() (
  cd "$RB_APP_DIR" || exit
  if [ -n "${RB_APP_ENV_FILE:-}" ]; then
    set -a
    # shellcheck source=/dev/null
    . "$RB_APP_ENV_FILE" || exit
    set +a
  fi
  if [ -n "${RB_APP_SETTINGS:-}" ]; then export DJANGO_SETTINGS_MODULE="$RB_APP_SETTINGS"; fi
  exec "$RB_APP_PYTHON" "$RB_APP_MANAGE" "$@"
)
