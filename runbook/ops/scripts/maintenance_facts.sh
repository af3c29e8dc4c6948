# shellcheck shell=bash
# maintenance.facts, one round trip: "snippet SHA" and "page SHA" (backend nginx; "" when
# missing), "flag on|off" and, when on, "age SECONDS" by the host's clock.
# RB_BACKEND, RB_SNIPPET, RB_PAGE, RB_FLAG: maintenance's settings.
sha() { sha256sum "$1" 2>/dev/null | cut -c1-64; }
if [ "$RB_BACKEND" = nginx ]; then
  echo "snippet $(sha "$RB_SNIPPET")"
  echo "page $(sha "$RB_PAGE")"
fi
if [ -e "$RB_FLAG" ]; then echo flag on; echo "age $(( $(date +%s) - $(stat -c %Y "$RB_FLAG") ))"
else echo flag off; fi
