"""The compose file edit of a PostgreSQL image upgrade: the db service onto the new image and a
new external volume, as a text edit that keeps comments and layout (no YAML round trip).
ConfigError, with nothing changed, when the file is not what the plan expects.
"""
import re

from runbook.engine.errors import ConfigError
from runbook.postgres.compose_stack import data_mount, majors

CFG_FILE = "the compose file"


def _indent(line):
    """Leading spaces of a line."""
    return len(line) - len(line.lstrip(" "))


def _content(line):
    """True for a line that is neither blank nor a comment."""
    s = line.strip()
    return bool(s) and not s.startswith("#")


def _block(lines, start):
    """(first, end) of the lines nested under the key at `start` (end exclusive)."""
    base = _indent(lines[start])
    end = start + 1
    last = start
    while end < len(lines):
        if _content(lines[end]):
            if _indent(lines[end]) <= base:
                break
            last = end
        end += 1
    return start + 1, last + 1


def _key_line(name):
    """A regex for the line `name:` (optionally quoted) opening a block."""
    return re.compile(r"(\s*)([\"']?)" + re.escape(name) + r"\2\s*:\s*(#.*)?\Z")


def _top(lines, key):
    """(line index, rest of the line) of the top-level `key:`, or (None, None)."""
    pat = re.compile(re.escape(key) + r"\s*:(.*)\Z")
    for i, line in enumerate(lines):
        if not line.startswith((" ", "\t")) and (m := pat.match(line.rstrip("\n"))):
            return i, m.group(1).strip()
    return None, None


def _unquote(value):
    """A YAML scalar without its surrounding quotes."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


_VALUE = r"(?P<val>\"[^\"]*\"|'[^']*'|[^\s#][^#]*?)"


def switch_compose(text, db_service, old_image, new_image, volume, new_volume, pgdata=None):
    """The compose file `text` with the db service on `new_image` and the new volume.

    A text edit (comments and layout stay): the db service's `image:` old_image -> new_image;
    its mount `volume:<data dir>` (short or long syntax) -> `<volume>_pg<NEW>:<data dir of the
    new major>`; and that key declared under the top-level `volumes:` as external, named
    `new_volume` (the full Docker volume name). ConfigError (nothing changed) when the file is
    not what the plan expects; `pgdata` must equal the PGDATA the db service sets, if any.
    """
    old_major, new_major = majors(old_image, new_image)
    new_key = f"{volume}_pg{new_major}"
    lines = text.splitlines(keepends=True)
    bare = [line.rstrip("\r\n") for line in lines]
    props = _service_lines(bare, db_service)
    edits = _image_edit(bare, props, db_service, old_image, new_image, new_major)
    _check_pgdata(bare, props, db_service, pgdata)
    edits.update(_mount_edits(bare, props, db_service, volume, new_key,
                              data_mount(old_major), data_mount(new_major)))
    after, block = _volume_declaration(lines, bare, volume, new_key, new_volume, new_major)
    result = _apply(lines, bare, edits, after, block)
    _sanity(result, db_service, new_image, new_key, new_volume)
    return result


def _service_lines(bare, db_service):
    """Indexes of the content lines directly inside the db service's block."""
    s, inline = _top(bare, "services")
    if s is None or (inline and not inline.startswith("#")):
        raise ConfigError(f"{CFG_FILE} has no block `services:` at the top level; "
                          "give the stack's compose file")
    first, end = _block(bare, s)
    svc = next((i for i in range(first, end) if _content(bare[i])), None)
    svc_indent = _indent(bare[svc]) if svc is not None else None
    db = [i for i in range(first, end)
          if _indent(bare[i]) == svc_indent and _key_line(db_service).match(bare[i])]
    if len(db) != 1:
        raise ConfigError(f"service {db_service!r} not found under services: in {CFG_FILE}; "
                          "set db_service to the PostgreSQL service's name")
    d_first, d_end = _block(bare, db[0])
    props = [i for i in range(d_first, d_end) if _content(bare[i])]
    if not props:
        raise ConfigError(f"service {db_service!r} is empty in {CFG_FILE}; give the real file")
    return props


def _image_edit(bare, props, db_service, old_image, new_image, new_major):
    """{line: new text} for the service's one `image:` line, which must name old_image."""
    prop_indent = _indent(bare[props[0]])
    img_pat = re.compile(r"(?P<pre>\s*image\s*:\s*)" + _VALUE + r"(?P<post>\s*(#.*)?)\Z")
    hits = [i for i in props if _indent(bare[i]) == prop_indent
            and re.match(r"\s*image\s*:", bare[i])]
    if len(hits) != 1:
        raise ConfigError(f"service {db_service!r} has {len(hits)} `image:` lines in {CFG_FILE}, "
                          "expected exactly one; set the image on that service itself")
    m = img_pat.match(bare[hits[0]])
    current = _unquote(m.group("val").strip()) if m else ""
    if current == new_image:
        raise ConfigError(f"service {db_service!r} already uses {new_image}; nothing to switch "
                          f"(restore {CFG_FILE}.pre-pg{new_major} if the data was not migrated)")
    if current != old_image:
        raise ConfigError(f"service {db_service!r} uses image {current or '?'!r}, not "
                          f"{old_image}; pass the image the file has as old_image")
    val = m.group("val").strip()
    quote = val[0] if val[0] in "'\"" else ""
    return {hits[0]: m.group("pre") + quote + new_image + quote + m.group("post")}


def _check_pgdata(bare, props, db_service, pgdata):
    """The temporary container must use the service's PGDATA, or the data lands elsewhere."""
    env = None
    for i in props:
        e = re.match(r"\s*(?:-\s*)?([\"']?)PGDATA\s*[:=]\s*(.*?)\1?\s*(#.*)?\Z", bare[i])
        if e:
            env = _unquote(e.group(2).strip())
    if env != pgdata:
        raise ConfigError(f"service {db_service!r} sets PGDATA={env!r} but the plan has "
                          f"{pgdata!r}; set ComposeDB.pgdata to the file's value")


def _mount_edits(bare, props, db_service, volume, new_key, old_target, new_target):
    """{line: new text} moving the data mount to the new volume and the new major's target."""
    short = re.compile(r"(?P<pre>\s*-\s*)(?P<q>[\"']?)" + re.escape(volume) + ":"
                       + re.escape(old_target) + r"(?P<opt>:[a-z,]+)?(?P=q)(?P<post>\s*(#.*)?)\Z")
    mounts = [(i, mm) for i in props if (mm := short.match(bare[i]))]
    if len(mounts) > 1:
        raise ConfigError(f"service {db_service!r} mounts {volume}:{old_target} "
                          f"{len(mounts)} times in {CFG_FILE}; keep one mount")
    if not mounts:
        return _long_mount(bare, props, volume, old_target, new_key, new_target, db_service)
    i, mm = mounts[0]
    return {i: (f"{mm.group('pre')}{mm.group('q')}{new_key}:{new_target}"
                f"{mm.group('opt') or ''}{mm.group('q')}{mm.group('post')}")}


def _volume_declaration(lines, bare, volume, new_key, new_volume, new_major):
    """(line to insert after, text) declaring the new key external under top-level volumes:."""
    v, inline = _top(bare, "volumes")
    if v is None or (inline and not inline.startswith("#")):
        raise ConfigError(f"{CFG_FILE} has no block `volumes:` at the top level declaring "
                          f"{volume!r}; declare the named volume there")
    v_first, v_end = _block(bare, v)
    keys = [i for i in range(v_first, v_end) if _content(bare[i])]
    key_indent = _indent(bare[keys[0]]) if keys else 2
    declared = {re.match(r"\s*[\"']?([^\"':\s]+)", bare[i]).group(1)
                for i in keys if _indent(bare[i]) == key_indent}
    if volume not in declared:
        raise ConfigError(f"volume {volume!r} is not declared under top-level volumes: in "
                          f"{CFG_FILE}; set ComposeDB.volume to the key the db service mounts")
    if new_key in declared:
        raise ConfigError(f"volume {new_key!r} is already declared in {CFG_FILE}; restore "
                          f"{CFG_FILE}.pre-pg{new_major} or remove that key, then rerun")
    pad, sub = " " * key_indent, " " * (key_indent * 2)
    nl = _newline(lines[v])
    block = f"{pad}{new_key}:{nl}{sub}external: true{nl}{sub}name: {new_volume}{nl}"
    return (keys[-1] if keys else v), block


def _newline(line):
    """The file's line ending, as the given line has it."""
    return "\r\n" if line.endswith("\r\n") else "\n"


def _apply(lines, bare, edits, insert_after, block):
    """The text with `edits` replacing lines (endings kept) and `block` after `insert_after`."""
    out = []
    for i, line in enumerate(lines):
        out.append(edits[i] + line[len(bare[i]):] if i in edits else line)
        if i == insert_after:
            if not out[-1].endswith("\n"):
                out[-1] += _newline(block)
            out.append(block)
    return "".join(out)


def _long_mount(bare, props, volume, old_target, new_key, new_target, db_service):
    """Edits for a long-syntax mount (`- type: volume / source: V / target: T`)."""
    src = re.compile(r"(?P<pre>\s*(?:-\s*)?source\s*:\s*)(?P<q>[\"']?)" + re.escape(volume)
                     + r"(?P=q)(?P<post>\s*(#.*)?)\Z")
    tgt = re.compile(r"(?P<pre>\s*(?:-\s*)?target\s*:\s*)(?P<q>[\"']?)" + re.escape(old_target)
                     + r"/?(?P=q)(?P<post>\s*(#.*)?)\Z")
    found = []
    for i in props:
        if not src.match(bare[i]):
            continue
        start = i  # the list item holding this line: back to its "- ", forward to the next one
        while start > props[0] and not re.match(r"\s*-\s", bare[start]):
            start -= 1
        dash = _indent(bare[start])
        end = start + 1
        while end <= props[-1] and not (_content(bare[end]) and _indent(bare[end]) <= dash):
            end += 1
        t = [j for j in range(start, end) if tgt.match(bare[j])]
        if t:
            found.append((i, t[0]))
    if len(found) != 1:
        raise ConfigError(f"service {db_service!r} has no mount {volume}:{old_target} in "
                          f"{CFG_FILE}; set ComposeDB.volume to the volume mounted there")
    i, j = found[0]
    ms, mt = src.match(bare[i]), tgt.match(bare[j])
    return {i: f"{ms.group('pre')}{ms.group('q')}{new_key}{ms.group('q')}{ms.group('post')}",
            j: f"{mt.group('pre')}{mt.group('q')}{new_target}{mt.group('q')}{mt.group('post')}"}


def _sanity(text, db_service, new_image, new_key, new_volume):
    """Parse the result when PyYAML is importable (not a dependency): the edit must read back."""
    try:
        import yaml
    except ImportError:
        return
    try:
        doc = yaml.safe_load(text)
        ok = (doc["services"][db_service]["image"] == new_image
              and doc["volumes"][new_key] == {"external": True, "name": new_volume})
    except Exception as e:  # noqa: BLE001 - any parse problem is the same answer
        raise ConfigError(f"the switched {CFG_FILE} does not parse ({type(e).__name__}); "
                          "edit it by hand") from None
    if not ok:
        raise ConfigError(f"the switched {CFG_FILE} does not read back as expected; "
                          "edit it by hand")
