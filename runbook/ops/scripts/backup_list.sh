# shellcheck shell=bash
# backup.listing: per backup of RB_BACKUP_DIR, "name<TAB>bytes<TAB>has manifest<TAB>verified.json".
cd "$RB_BACKUP_DIR" 2>/dev/null || exit 0
for d in */; do d=${d%/}; [ -f "$d/manifest.json" ] && m=1 || m=0
  v=$(tr -d '\n' 2>/dev/null < "$d/verified.json")
  printf '%s\t%s\t%s\t%s\n' "$d" "$(du -sb "$d" | cut -f1)" "$m" "$v"
done
