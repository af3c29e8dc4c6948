# shellcheck shell=bash
# clusters.write_config, run as postgres: creates the conf.d directory $1, then writes each file
# named by the lines that follow this script on stdin, "MODE BASE64 PATH" (so the text is in no
# process argument), through PATH.new. One group: bash reads it whole before `read` takes the rest
# (docs/BEHAVIOUR.md#bash-reads-group-whole).
{
set -e
umask 022
mkdir -p "$1"
while IFS= read -r line; do
  mode=${line%% *} rest=${line#* }
  b64=${rest%% *} path=${rest#* }
  printf '%s' "$b64" | base64 -d > "$path.new" && chmod "$mode" "$path.new" && mv -f "$path.new" "$path"
done
exit
}
