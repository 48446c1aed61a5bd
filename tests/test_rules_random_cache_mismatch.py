"""KL601 (per-call values), KL701 (method caches), KL801 (write/delete mismatch): behaviour beyond the
examples beside each rule: where findings point, what messages say, suppression and configuration."""

from __future__ import annotations

from keylint.diagnostics import Diagnostic
from keylint.engine import check_source
from keylint.settings import Settings, SourceSpec


def findings(source: str, code: str, **settings: object) -> list[Diagnostic]:
    chosen = Settings(select=(code,), **settings)  # type: ignore[arg-type]
    return [d for d in check_source(source, "mod.py", chosen) if d.code == code]


# ---- KL601 ------------------------------------------------------------------------------------------
SESSIONS = '''\
import uuid

SESSIONS = {}

def _store(token, user):
    SESSIONS[token] = user

def login(user):
    token = uuid.uuid4().hex
    _store(token, user)
    return token

def forget(user):
    token = uuid.uuid4().hex
    _store(token, user)
'''


def test_kl601_fresh_key_written_through_a_helper_is_fine_only_when_handed_out() -> None:
    found = findings(SESSIONS, "KL601")
    # login() returns the token; forget() keeps it nowhere: the entry written by _store is unreachable.
    assert [(d.line, d.source.line if d.source else None) for d in found] == [(6, 14)]
    assert "can never be looked up or deleted" in found[0].message
    assert found[0].chain[0].line == 14  # the chain starts at the uuid4() in forget()


def test_kl601_delete_names_the_writer_and_chain_starts_at_the_call() -> None:
    source = (
        "import uuid\n\nclass Uploads:\n    def __init__(self):\n        self._parts = {}\n\n"
        "    def add(self, upload, data):\n        self._parts[f'{upload}:{uuid.uuid4()}'] = data\n\n"
        "    def drop(self, upload):\n        self._parts.pop(f'{upload}:{uuid.uuid4()}', None)\n"
    )
    found = findings(source, "KL601")
    assert [d.line for d in found] == [8, 11]
    delete = found[1]
    assert "`Uploads.add()`" in delete.message and "keeps growing" in delete.message
    assert delete.source is not None and (delete.source.line, delete.source.column) == (11, 37)


def test_kl601_value_made_once_or_stored_is_not_reported() -> None:
    source = (
        "import uuid\n\nclass Client:\n    def __init__(self):\n        self._id = uuid.uuid4()\n        self._streams = {}\n\n"
        "    def open(self, s):\n        self._streams[self._id] = s\n\n    def close(self):\n        self._streams.pop(self._id)\n"
    )
    assert findings(source, "KL601") == []
    moved = source.replace("self._streams.pop(self._id)", "self._streams.pop(uuid.uuid4())")
    assert [d.line for d in findings(moved, "KL601")] == [12]


def test_kl601_configured_generator_and_sanitizer() -> None:
    source = "from ids import new_id\n\ncache = {}\n\ndef get(name):\n    return cache.get(f'{name}:{new_id()}')\n"
    assert findings(source, "KL601") == []
    configured = (SourceSpec(kind="random", function="ids.new_id"),)
    assert [d.line for d in findings(source, "KL601", sources=configured)] == [6]
    sanitized = "import uuid\n\ncache = {}\n\ndef get(name):\n    return cache.get(stable(name, uuid.uuid4()))\n"
    assert len(findings(sanitized, "KL601")) == 1
    assert findings(sanitized, "KL601", sanitizers=("stable",)) == []


def test_kl601_suppressed_by_noqa() -> None:
    source = "import uuid\n\nseen = set()\n\ndef check():\n    return uuid.uuid4() in seen  # noqa: KL601\n"
    assert findings(source, "KL601") == []
    assert len(findings(source.replace("  # noqa: KL601", ""), "KL601")) == 1


def test_kl601_small_random_ranges_are_sampling_but_huge_ones_are_unique() -> None:
    template = "import random\n\nslots = {{}}\n\ndef pick():\n    return slots.get(random.randint(0, {}))\n"
    assert findings(template.format("15"), "KL601") == []
    assert len(findings(template.format("2**40"), "KL601")) == 1


# ---- KL701 ------------------------------------------------------------------------------------------
def test_kl701_reports_at_the_decorator_with_the_bound_in_the_message() -> None:
    source = "import functools\n\nclass Conn:\n    @functools.lru_cache(maxsize=64)\n    def query(self, sql):\n        return sql\n"
    [found] = findings(source, "KL701")
    assert (found.line, found.column, found.end_line) == (4, 5, 4)
    assert "last 64 calls" in found.message and "`Conn.query()`" in found.message
    assert found.fix is None  # arguments: no cached_property fix


def test_kl701_singleton_exemption_counts_subclasses_and_function_scope() -> None:
    base = (
        "import functools\n\nclass Base:\n    @functools.cache\n    def _m(self):\n        return 1\n\n"
        "class Impl(Base):\n    pass\n\nIMPL = Impl()\n"
    )
    assert findings(base, "KL701") == []
    assert len(findings(base + "\ndef make():\n    return Impl()\n", "KL701")) == 1


def test_kl701_no_fix_when_the_method_is_used_other_than_called_on_self() -> None:
    source = (
        "import functools\n\nclass A:\n    @functools.cache\n    def _m(self):\n        return 1\n\n"
        "    def run(self, other):\n        return self._m() + other._m()\n"
    )
    [found] = findings(source, "KL701")
    assert found.fix is None
    own = source.replace(" + other._m()", "")
    [fixable] = findings(own, "KL701")
    assert fixable.fix is not None and fixable.fix.applicability == "unsafe"


# ---- KL801 ------------------------------------------------------------------------------------------
def test_kl801_chain_points_from_the_write_to_the_delete() -> None:
    source = (
        "class Sessions:\n    def __init__(self):\n        self._live = {}\n\n"
        "    def login(self, user, token, s):\n        self._live[f'{user}:{token}'] = s\n\n"
        "    def logout(self, token):\n        self._live.pop(token, None)\n"
    )
    [found] = findings(source, "KL801")
    assert found.line == 9
    assert found.source is not None and found.source.line == 6
    assert [step.line for step in found.chain] == [6, 9]
    assert "`Sessions.login()`" in found.message and "keeps growing" in found.message


def test_kl801_a_compatible_write_anywhere_silences_the_read() -> None:
    source = (
        "index = {}\n\ndef add(user, token, s):\n    index[f'{user}:{token}'] = s\n\n"
        "def drop(token):\n    index.pop(token, None)\n"
    )
    assert len(findings(source, "KL801")) == 1
    extra = source + "\ndef alias(token, s):\n    index[token] = s\n"
    assert findings(extra, "KL801") == []


def test_kl801_mapping_filled_elsewhere_is_not_judged() -> None:
    source = (
        "users = {}\n\ndef add(name, user):\n    users[name.lower()] = user\n\ndef remove(name):\n    del users[name]\n"
    )
    assert len(findings(source, "KL801")) == 1
    assert findings(source + "\ndef load(rows):\n    users.update(rows)\n", "KL801") == []
    assert findings(source + "\ndef share(register):\n    register(users)\n", "KL801") == []


def test_kl801_percent_format_and_fstring_with_the_same_template_agree() -> None:
    source = (
        "streams = {}\n\ndef watch(user, key, s):\n    streams['%s/%s' % (user, key)] = s\n\n"
        "def cancel(user, key):\n    del streams[f'{user}/{key}']\n\ndef other(user, key):\n    del streams['{0}/{1}'.format(user, key)]\n"
    )
    assert findings(source, "KL801") == []
