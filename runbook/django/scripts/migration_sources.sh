# shellcheck shell=bash
# migrate.sources_at: for each pair of arguments after the work tree $1 and commit $2, NAME PATH,
# "@@NAME" then the file PATH as it is in the commit (the work tree untouched).
app=$1 commit=$2
shift 2
while [ $# -ge 2 ]; do
  echo "@@$1"; git -C "$app" show "$commit:$2"
  shift 2
done
