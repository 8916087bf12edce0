"""A reader of shared/store/src/keys.rs, the only place that builds a partition key: every
kind of partition it builds, as the `dynamodb:LeadingKeys` pattern that matches exactly that
kind (`USER#*` for `format!("USER#{id}")`, `SETTINGS` for a literal). It reads the few forms
the module uses, not Rust at large, and fails loudly on anything else."""

import re

from sam_template import ROOT

KEYS_RS = ROOT / "shared" / "store" / "src" / "keys.rs"


def pieces(text, start=0, comments=False):
    """`text` from `start` as (index, piece): a string literal whole, from its `"` past the
    one closing it (a `\\` escapes the character after it; an unclosed one runs to the end),
    with `comments` a `//` comment whole (up to its newline, or the end), and any other
    character alone. What the readers below share, so that a bracket, a comma or a `//`
    inside a string is never taken for code."""
    i = start
    while i < len(text):
        if text[i] == '"':
            end = i + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            end = min(end + 1, len(text))
        elif comments and text.startswith("//", i):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
        else:
            end = i + 1
        yield i, text[i:end]
        i = end


def strip_comments(text):
    """Rust source without `//` comments (strings kept: a `//` inside one is not a comment)."""
    return "".join(piece for _, piece in pieces(text, comments=True) if not piece.startswith("//"))


def balanced(text, start):
    """The index just past the bracket closing the one at `start`, skipping strings."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    stack = []
    for i, piece in pieces(text, start):
        if piece in pairs:
            stack.append(pairs[piece])
        elif piece in (")", "}", "]"):
            assert stack and stack.pop() == piece, f"unbalanced {piece!r} at {i}"
            if not stack:
                return i + 1
    raise AssertionError(f"no closing bracket for {text[start]!r} at {start}")


def split_top_level(text, separator=","):
    """`text` split at the separators outside brackets and strings."""
    parts, depth, begin = [], 0, 0
    for i, piece in pieces(text):
        if i < begin or piece.startswith('"'):
            continue
        if piece in ("(", "[", "{"):
            depth += 1
        elif piece in (")", "]", "}"):
            depth -= 1
        elif depth == 0 and text.startswith(separator, i):
            parts.append(text[begin:i].strip())
            begin = i + len(separator)
    parts.append(text[begin:].strip())
    return [part for part in parts if part]


def key_module(text):
    """The functions (name -> (return type, body)) and string constants of keys.rs, its
    tests left out."""
    code = strip_comments(text.split("#[cfg(test)]")[0])
    consts = dict(re.findall(r'\bconst\s+([A-Z][A-Z0-9_]*)\s*:\s*&str\s*=\s*"([^"]*)"\s*;', code))
    functions = {}
    for header in re.finditer(r"\bfn\s+(\w+)\s*(?:<[^>]*>)?\s*\(", code):
        after_args = balanced(code, header.end() - 1)
        body_start = code.index("{", after_args)
        returns = re.search(r"->\s*([\w:]+)", code[after_args:body_start])
        body = code[body_start + 1 : balanced(code, body_start) - 1].strip()
        functions[header.group(1)] = (returns.group(1) if returns else None, body)
    return functions, consts


def partition_patterns(text):
    """Every partition key keys.rs builds, as {leading-key pattern: the functions that build
    it}. Understands the forms the module uses; anything else fails loudly, so that a new
    form is taught here rather than missed."""
    functions, consts = key_module(text)

    def resolve(expr, seen):
        expr = expr.strip()
        if m := re.fullmatch(r'format!\(\s*"((?:[^"\\]|\\.)*)"\s*(?:,.*)?\)', expr, re.S):
            template = m.group(1)
            assert "{{" not in template, f"escaped brace in a partition key: {expr}"
            if "{" not in template:
                return {template}
            prefix = template[: template.index("{")]
            assert prefix, f"a partition key must start with a fixed prefix: {expr}"
            return {prefix + "*"}
        if m := re.fullmatch(r'"([^"\\]*)"\s*\.\s*(?:to_owned|to_string|into)\(\)', expr):
            return {m.group(1)}
        if m := re.fullmatch(r'String::from\(\s*"([^"\\]*)"\s*\)', expr):
            return {m.group(1)}
        if m := re.fullmatch(r"([A-Z][A-Z0-9_]*)\s*\.\s*(?:to_owned|to_string|into)\(\)", expr):
            assert m.group(1) in consts, f"unknown constant in a partition key: {expr}"
            return {consts[m.group(1)]}
        if m := re.fullmatch(r"(\w+)\s*\((.*)\)\s*\.\s*pk", expr, re.S):
            return key_pk(m.group(1), seen)
        if m := re.fullmatch(r"(\w+)\s*\((.*)\)", expr, re.S):
            return string_fn(m.group(1), seen)
        raise AssertionError(f"keys.rs builds a partition key in a form this test does not read: {expr}")

    def key_pk(name, seen):
        assert name not in seen, f"recursion through {name}"
        returns, body = functions[name]
        assert returns == "Key", f"{name} is used as a Key but returns {returns}"
        calls = list(re.finditer(r"\bKey::new\s*\(", body))
        assert calls, f"{name} returns a Key without Key::new: {body}"
        patterns = set()
        for call in calls:
            args = split_top_level(body[call.end() : balanced(body, call.end() - 1) - 1])
            assert len(args) == 2, f"Key::new takes a partition and a sort key: {args}"
            patterns |= resolve(args[0], seen | {name})
        return patterns

    def string_fn(name, seen):
        assert name not in seen, f"recursion through {name}"
        returns, body = functions.get(name, (None, ""))
        assert returns == "String", f"{name} builds a partition key but returns {returns}"
        if m := re.match(r"match\b[^{]*\{", body):
            arms = split_top_level(body[m.end() : balanced(body, m.end() - 1) - 1])
            return set().union(*(resolve(arm.split("=>", 1)[1], seen | {name}) for arm in arms))
        return resolve(body, seen | {name})

    kinds = {}
    for name, (returns, _) in functions.items():
        if returns == "Key":
            found = key_pk(name, set())
        elif returns == "String" and name.endswith("_sk_prefix"):
            # A sort-key prefix (what a query of one partition asks for): no partition.
            continue
        elif returns == "String":
            assert name.endswith("_partition"), (
                f"keys.rs fn {name} returns a String that is no partition (name it *_partition "
                "or teach this test what it is)"
            )
            found = string_fn(name, set())
        else:
            continue
        for pattern in found:
            kinds.setdefault(pattern, set()).add(name)
    return kinds


def glob_matches(pattern, value):
    """IAM's StringLike: `*` any run of characters, `?` any one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.S) is not None


def example_key(pattern):
    return pattern[:-1] + "x" if pattern.endswith("*") else pattern
