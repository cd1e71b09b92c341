#!/usr/bin/env python3
"""Lists a crate's public API from rustdoc's JSON (nightly `--output-format json`): one sorted line per
public item, with signatures, so that a committed listing can be compared with the code's.

usage: public_api.py CRATE.json  -> the listing on standard output
"""
import json
import sys

doc = json.load(open(sys.argv[1]))
index = doc["index"]
paths = doc.get("paths", {})


def item_path(id_):
    entry = paths.get(str(id_))
    return "::".join(entry["path"]) if entry else None


def args(a):
    if not a:
        return ""
    if "angle_bracketed" in a:
        ab = a["angle_bracketed"]
        parts = []
        for arg in ab["args"]:
            if "type" in arg:
                parts.append(ty(arg["type"]))
            elif "lifetime" in arg:
                parts.append(arg["lifetime"])
            elif "const" in arg:
                parts.append(str(arg["const"].get("expr", "_")))
            else:
                parts.append("_")
        for c in ab.get("constraints", []):
            binding = c.get("binding", {})
            if "equality" in binding:
                eq = binding["equality"]
                parts.append(f"{c['name']} = {ty(eq['type']) if 'type' in eq else '_'}")
            else:
                parts.append(f"{c['name']}: {bounds(binding.get('constraint', []))}")
        return "<" + ", ".join(parts) + ">" if parts else ""
    if "parenthesized" in a:
        p = a["parenthesized"]
        out = "(" + ", ".join(ty(t) for t in p["inputs"]) + ")"
        return out + (" -> " + ty(p["output"]) if p.get("output") else "")
    return ""


def path_ref(p):
    return (p.get("path") or "") + args(p.get("args"))


def bounds(bs):
    out = []
    for b in bs:
        if "trait_bound" in b:
            tb = b["trait_bound"]
            modifier = "?" if tb.get("modifier") == "maybe" else ""
            out.append(modifier + path_ref(tb["trait"]))
        elif "outlives" in b:
            out.append(b["outlives"])
        elif "use" in b:
            out.append("use<" + ", ".join(str(x.get("lifetime", x.get("param", x))) for x in b["use"]) + ">")
    return " + ".join(out)


def ty(t):
    if t is None:
        return "()"
    (kind, v), = t.items()
    if kind == "resolved_path":
        return path_ref(v)
    if kind == "primitive":
        return v
    if kind == "generic":
        return v
    if kind == "borrowed_ref":
        life = v["lifetime"] + " " if v.get("lifetime") else ""
        return "&" + life + ("mut " if v["is_mutable"] else "") + ty(v["type"])
    if kind == "raw_pointer":
        return ("*mut " if v["is_mutable"] else "*const ") + ty(v["type"])
    if kind == "tuple":
        return "(" + ", ".join(ty(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if kind == "slice":
        return "[" + ty(v) + "]"
    if kind == "array":
        return "[" + ty(v["type"]) + "; " + v["len"] + "]"
    if kind == "impl_trait":
        return "impl " + bounds(v)
    if kind == "dyn_trait":
        parts = [path_ref(p["trait"]) for p in v["traits"]]
        if v.get("lifetime"):
            parts.append(v["lifetime"])
        return "dyn " + " + ".join(parts)
    if kind == "qualified_path":
        trait = path_ref(v["trait"]) if v.get("trait") else ""
        return f"<{ty(v['self_type'])} as {trait}>::{v['name']}" if trait else f"{ty(v['self_type'])}::{v['name']}"
    if kind == "function_pointer":
        sig = v["sig"]
        return "fn(" + ", ".join(ty(i[1]) for i in sig["inputs"]) + ")" + (" -> " + ty(sig["output"]) if sig["output"] else "")
    if kind == "infer":
        return "_"
    return kind


def generics(g):
    params = []
    for p in g.get("params", []):
        k = p["kind"]
        if "lifetime" in k:
            params.append(p["name"])
        elif "type" in k:
            if k["type"].get("is_synthetic"):
                continue
            b = bounds(k["type"]["bounds"])
            d = k["type"].get("default")
            params.append(p["name"] + (": " + b if b else "") + (" = " + ty(d) if d else ""))
        elif "const" in k:
            params.append("const " + p["name"] + ": " + ty(k["const"]["type"]))
    where = []
    for w in g.get("where_predicates", []):
        if "bound_predicate" in w:
            bp = w["bound_predicate"]
            where.append(ty(bp["type"]) + ": " + bounds(bp["bounds"]))
    return ("<" + ", ".join(params) + ">" if params else ""), (" where " + ", ".join(where) if where else "")


def fn_sig(name, f):
    g, w = generics(f["generics"])
    h = f["header"]
    head = ("const " if h["is_const"] else "") + ("async " if h["is_async"] else "") + ("unsafe " if h["is_unsafe"] else "")
    inputs = []
    for pname, ptype in f["sig"]["inputs"]:
        inputs.append("self" if pname == "self" and ty(ptype) == "Self" else
                      (ty(ptype).replace("Self", "self", 0) if False else f"{pname}: {ty(ptype)}"))
    out = f["sig"]["output"]
    return f"{head}fn {name}{g}({', '.join(inputs)})" + (f" -> {ty(out)}" if out else "") + w


lines = set()


def hidden(item):
    return any("doc(hidden)" in str(a) for a in item.get("attrs", []))


def walk_impls(owner, impl_ids):
    for iid in impl_ids:
        impl = index.get(str(iid))
        if not impl:
            continue
        im = impl["inner"]["impl"]
        if im.get("is_synthetic") or im.get("blanket_impl"):
            continue
        g, w = generics(im["generics"])
        if im.get("trait"):
            trait = path_ref(im["trait"])
            neg = "!" if im.get("is_negative") else ""
            if trait != "StructuralPartialEq":
                lines.add(f"impl{g} {neg}{trait} for {ty(im['for'])}{w}")
            continue
        for mid in im["items"]:
            m = index.get(str(mid))
            if not m or m["visibility"] != "public" or hidden(m):
                continue
            inner = m["inner"]
            if "function" in inner:
                lines.add(f"impl{g} {ty(im['for'])}{w}: pub {fn_sig(m['name'], inner['function'])}")
            elif "assoc_const" in inner:
                lines.add(f"impl{g} {ty(im['for'])}{w}: pub const {m['name']}: {ty(inner['assoc_const']['type'])}")


def walk(id_, prefix, seen):
    item = index.get(str(id_))
    if not item or id_ in seen or hidden(item):
        return
    seen = seen | {id_}
    inner = item["inner"]
    kind = next(iter(inner))
    v = inner[kind]
    name = item.get("name")
    path = f"{prefix}::{name}" if name else prefix
    if kind == "module":
        lines.add(f"pub mod {path}")
        for child in v["items"]:
            walk(child, path, seen)
    elif kind == "use":
        if v.get("id") is None:
            lines.add(f"pub use {prefix}::{v['name']} (external: {v['source']})")
            return
        if v.get("is_glob"):
            target = index.get(str(v["id"]))
            if target and "module" in target["inner"]:
                for child in target["inner"]["module"]["items"]:
                    walk(child, prefix, seen)
            return
        target = index.get(str(v["id"]))
        if target is None:
            lines.add(f"pub use {prefix}::{v['name']} = {item_path(v['id']) or v['source']}")
            return
        target = dict(target)
        target["name"] = v["name"]
        index[f"use:{id_}"] = target
        walk(f"use:{id_}", prefix, seen)
    elif kind == "struct":
        g, w = generics(v["generics"])
        sk = v["kind"]
        lines.add(f"pub struct {path}{g}{w}")
        fields = sk.get("plain", {}).get("fields", []) if isinstance(sk, dict) else []
        if isinstance(sk, dict) and "tuple" in sk:
            fields = [f for f in sk["tuple"] if f is not None]
        for fid in fields:
            f = index[str(fid)]
            if f["visibility"] == "public":
                lines.add(f"pub {path}::{f['name']}: {ty(f['inner']['struct_field'])}")
        if isinstance(sk, dict) and sk.get("plain", {}).get("has_stripped_fields"):
            lines.add(f"pub struct {path}: private fields")
        walk_impls(path, v["impls"])
    elif kind == "enum":
        g, w = generics(v["generics"])
        lines.add(f"pub enum {path}{g}{w}")
        for vid in v["variants"]:
            var = index[str(vid)]
            lines.add(f"pub {path}::{var['name']}")
        walk_impls(path, v["impls"])
    elif kind == "union":
        lines.add(f"pub union {path}")
    elif kind == "trait":
        g, w = generics(v["generics"])
        sup = bounds(v.get("bounds", []))
        lines.add(f"pub trait {path}{g}{': ' + sup if sup else ''}{w}")
        for mid in v["items"]:
            m = index[str(mid)]
            if hidden(m):
                continue
            mi = m["inner"]
            if "function" in mi:
                lines.add(f"pub {path}::{fn_sig(m['name'], mi['function'])}")
            elif "assoc_type" in mi:
                b = bounds(mi["assoc_type"].get("bounds", []))
                lines.add(f"pub {path}::type {m['name']}{': ' + b if b else ''}")
            elif "assoc_const" in mi:
                lines.add(f"pub {path}::const {m['name']}: {ty(mi['assoc_const']['type'])}")
        for iid in v.get("implementations", []):
            impl = index.get(str(iid))
            if impl and not impl["inner"]["impl"].get("is_synthetic"):
                im = impl["inner"]["impl"]
                g2, w2 = generics(im["generics"])
                lines.add(f"impl{g2} {path_ref(im['trait'])} for {ty(im['for'])}{w2}")
    elif kind == "function":
        lines.add(f"pub {fn_sig(path, v)}")
    elif kind == "constant":
        lines.add(f"pub const {path}: {ty(v['type'])}")
    elif kind == "static":
        lines.add(f"pub static {path}: {ty(v['type'])}")
    elif kind == "type_alias":
        g, _ = generics(v["generics"])
        lines.add(f"pub type {path}{g} = {ty(v['type'])}")
    elif kind in ("macro", "proc_macro"):
        lines.add(f"pub macro {path}")


walk(doc["root"], "", frozenset())
for line in sorted(l.lstrip(":") for l in lines):
    print(line)
