//! The source layout's rules, checked on `src/` itself: no import cycles between modules, the
//! engine free of async, SQL and HTTP, SQL only in the store, and files short enough to read or
//! saying why not.
//!
//! A module is one file. `a` depends on `b` when a `use` or a path in `a` (`crate::…`,
//! `super::…`, `self::…`, or a child module's name) names `b` or an item in it; declaring
//! `mod b;` is not a dependency. Unit-test modules at the end of a file are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Over this, a file says at its top why it is long.
const MAX_LINES: usize = 400;
const LONG_REASON: &str = "Over 400 lines because";

struct Module {
    file: PathBuf,
    /// Code without comments, strings and the trailing unit-test module.
    code: String,
    /// Lines of the whole file.
    lines: usize,
    head: String,
}

/// Every library module of `src/` by its path (`["engine", "model", "mlp"]`); `main.rs` is the
/// binary, not part of the library.
fn modules() -> BTreeMap<Vec<String>, Module> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path == root.join("main.rs") {
                continue;
            }
            let rel = path.strip_prefix(&root).expect("under src/");
            let mut segments: Vec<String> = rel
                .with_extension("")
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            if matches!(segments.last().map(String::as_str), Some("mod" | "lib")) {
                segments.pop();
            }
            let text = std::fs::read_to_string(&path).expect("a readable source file");
            out.insert(
                segments,
                Module {
                    file: path.clone(),
                    code: strip(&text),
                    lines: text.lines().count(),
                    head: text.lines().take(12).collect::<Vec<_>>().join("\n"),
                },
            );
        }
    }
    out
}

/// The code of `text` with comments and string/char literals blanked and everything from a
/// trailing `#[cfg(test)]` module on removed.
fn strip(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(i) => &text[..i],
        None => text,
    };
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'r' if b.get(i + 1) == Some(&b'#') || b.get(i + 1) == Some(&b'"') => {
                // A raw string r"…" or r#"…"#, or an identifier starting with r (r#type).
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                let close: String = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let start = i + 2 + hashes;
                let end = text[start..].find(&close).map_or(b.len(), |e| start + e);
                out.push_str("\"\"");
                i = end + close.len();
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                out.push_str("\"\"");
                i += 1;
            }
            b'\'' => {
                // A char literal ('a', '\n', '"') or a lifetime ('a).
                let close = if b.get(i + 1) == Some(&b'\\') {
                    b[i + 2..]
                        .iter()
                        .position(|&c| c == b'\'')
                        .map(|p| i + 2 + p)
                } else if b.get(i + 2) == Some(&b'\'') {
                    Some(i + 2)
                } else {
                    None
                };
                match close {
                    Some(c) => {
                        out.push_str("' '");
                        i = c + 1;
                    }
                    None => {
                        out.push('\'');
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    out
}

/// Paths named by `use` trees, expanded (`a::{b, c::d}` → `a::b`, `a::c::d`).
fn use_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = find_word(rest, "use") {
        let tail = &rest[i + 3..];
        let end = tail.find(';').unwrap_or(tail.len());
        let tree: String = tail[..end]
            .replace(" as ", "@")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        expand("", &tree, &mut out);
        rest = &tail[end..];
    }
    out
}

/// The index of `word` in `s` as a whole word.
fn find_word(s: &str, word: &str) -> Option<usize> {
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(p) = s[from..].find(word) {
        let i = from + p;
        let before = i == 0 || !is_ident(b[i - 1]);
        let after = b.get(i + word.len()).is_none_or(|&c| !is_ident(c));
        if before && after {
            return Some(i);
        }
        from = i + word.len();
    }
    None
}

fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let join = |p: &str, s: &str| {
        if p.is_empty() {
            s.to_owned()
        } else {
            format!("{p}::{s}")
        }
    };
    match tree.find('{') {
        None => {
            let path = tree.split('@').next().unwrap_or(tree);
            out.push(join(prefix, path.trim_end_matches("::self")));
        }
        Some(open) => {
            let base = join(prefix, tree[..open].trim_end_matches("::"));
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let (mut depth, mut start) = (0, 0);
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand_item(&base, &inner[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            expand_item(&base, &inner[start..], out);
        }
    }
}

fn expand_item(base: &str, item: &str, out: &mut Vec<String>) {
    match item {
        "" => {}
        "self" => out.push(base.to_owned()),
        _ => expand(base, item, out),
    }
}

/// Paths written in code: identifiers joined by `::` whose first is `crate`, `super`, `self` or
/// one of `children`.
fn inline_paths(code: &str, children: &BTreeSet<String>) -> Vec<String> {
    let b = code.as_bytes();
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !is_ident(b[i]) || (i > 0 && (is_ident(b[i - 1]) || b[i - 1] == b':')) {
            i += 1;
            continue;
        }
        let mut end = i;
        loop {
            while end < b.len() && is_ident(b[end]) {
                end += 1;
            }
            if code[end..].starts_with("::")
                && b.get(end + 2).is_some_and(|&c| is_ident(c) || c == b'{')
                && b[end + 2] != b'{'
            {
                end += 2;
            } else {
                break;
            }
        }
        let path = &code[i..end];
        let first = path.split("::").next().unwrap_or("");
        if path.contains("::")
            && (matches!(first, "crate" | "super" | "self") || children.contains(first))
        {
            out.push(path.to_owned());
        }
        i = end.max(i + 1);
    }
    out
}

/// Names of the modules `code` declares (`mod x;` or `pub mod x;`).
fn declared_children(code: &str) -> BTreeSet<String> {
    code.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            let l = l.strip_prefix("pub(crate) ").unwrap_or(l);
            let name = l.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_owned())
        })
        .collect()
}

/// The deepest module a path names, seen from module `here` (`None`: outside the crate).
fn resolve(
    path: &str,
    here: &[String],
    modules: &BTreeMap<Vec<String>, Module>,
) -> Option<Vec<String>> {
    let mut segments = path.split("::").peekable();
    let mut base: Vec<String> = match *segments.peek()? {
        "crate" => {
            segments.next();
            Vec::new()
        }
        "self" => {
            segments.next();
            here.to_vec()
        }
        "super" => {
            let mut b = here.to_vec();
            while segments.peek() == Some(&"super") {
                segments.next();
                b.pop()?;
            }
            b
        }
        _ => here.to_vec(), // a child module's name
    };
    for s in segments {
        let mut next = base.clone();
        next.push(s.to_owned());
        if !modules.contains_key(&next) {
            break;
        }
        base = next;
    }
    Some(base)
}

fn dependencies(
    modules: &BTreeMap<Vec<String>, Module>,
) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    modules
        .iter()
        .map(|(here, m)| {
            let children = declared_children(&m.code);
            let deps = use_paths(&m.code)
                .into_iter()
                .chain(inline_paths(&m.code, &children))
                .filter_map(|p| resolve(&p, here, modules))
                .filter(|d| d != here)
                .collect();
            (here.clone(), deps)
        })
        .collect()
}

/// Every dependency cycle, each once, as the modules along it.
fn cycles(deps: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    let mut found = BTreeSet::new();
    for start in deps.keys() {
        // Shortest way back to `start`, breadth first.
        let mut previous: BTreeMap<&Vec<String>, &Vec<String>> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        'search: while let Some(m) = queue.pop_front() {
            for d in deps.get(m).into_iter().flatten() {
                if d == start {
                    let mut cycle = vec![m.join("::")];
                    let mut at = m;
                    while at != start {
                        at = previous[at];
                        cycle.push(at.join("::"));
                    }
                    cycle.reverse();
                    // The same cycle from another start is the same rotation set.
                    let mut key = cycle.clone();
                    key.sort();
                    if found.insert(key) {
                        let mut shown = cycle.clone();
                        shown.push(start.join("::"));
                        println!("cycle: {}", shown.join(" → "));
                    }
                    break 'search;
                }
                if !previous.contains_key(d) && d != start {
                    previous.insert(d, m);
                    queue.push_back(d);
                }
            }
        }
    }
    found.into_iter().collect()
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let modules = modules();
    assert!(modules.len() > 50, "found the source files");
    let deps = dependencies(&modules);
    let cycles = cycles(&deps);
    assert!(
        cycles.is_empty(),
        "{} import cycles (printed above)",
        cycles.len()
    );
}

#[test]
fn the_cycle_check_sees_use_trees_inline_paths_and_children() {
    let here = vec!["engine".to_owned(), "train".to_owned()];
    let mut modules = BTreeMap::new();
    for m in [
        vec![],
        vec!["engine"],
        vec!["engine", "train"],
        vec!["engine", "model"],
        vec!["engine", "model", "mlp"],
    ] {
        let module = Module {
            file: PathBuf::new(),
            code: String::new(),
            lines: 0,
            head: String::new(),
        };
        modules.insert(m.into_iter().map(str::to_owned).collect::<Vec<_>>(), module);
    }
    let code = strip(
        "use super::{model::{self, mlp::Mlp}, EngineError};\n\
         // crate::engine::ignored\n\
         fn f() { let s = \"crate::nope::x\"; crate::engine::model::mlp::new(); }\n\
         #[cfg(test)]\nmod tests { use crate::engine::model::mlp; }",
    );
    let mut paths = use_paths(&code);
    paths.extend(inline_paths(&code, &BTreeSet::new()));
    let resolved: BTreeSet<Vec<String>> = paths
        .iter()
        .filter_map(|p| resolve(p, &here, &modules))
        .collect();
    let names: Vec<String> = resolved.iter().map(|m| m.join("::")).collect();
    assert_eq!(names, ["engine", "engine::model", "engine::model::mlp"]);

    let a = vec!["a".to_owned()];
    let b = vec!["b".to_owned()];
    let c = vec!["c".to_owned()];
    let deps = BTreeMap::from([
        (a.clone(), BTreeSet::from([b.clone()])),
        (b.clone(), BTreeSet::from([c.clone()])),
        (c.clone(), BTreeSet::from([a.clone()])),
    ]);
    assert_eq!(cycles(&deps).len(), 1);
    let acyclic = BTreeMap::from([(a, BTreeSet::from([b.clone()])), (b, BTreeSet::from([c]))]);
    assert!(cycles(&acyclic).is_empty());
}

#[test]
fn long_files_say_why_at_their_top() {
    let long: Vec<String> = modules()
        .values()
        .filter(|m| m.lines > MAX_LINES && !m.head.contains(LONG_REASON))
        .map(|m| format!("{} ({} lines)", m.file.display(), m.lines))
        .collect();
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines without {LONG_REASON:?} at the top: {long:?}"
    );
}

#[test]
fn the_engine_has_no_async_sql_or_http_and_only_the_store_has_sql() {
    for (path, m) in modules() {
        let first = path.first().map(String::as_str);
        let uses = |krate: &str| m.code.contains(&format!("{krate}::"));
        if first == Some("engine") {
            for krate in ["tokio", "sqlx", "axum", "hyper"] {
                assert!(!uses(krate), "{} uses {krate}", m.file.display());
            }
        }
        if first != Some("store") {
            assert!(
                !m.code.contains("sqlx::query"),
                "{} runs SQL",
                m.file.display()
            );
        }
    }
}

/// Over this many lines, a function is split (numeric kernels named in `KERNELS` excepted).
const MAX_FN_LINES: usize = 100;
/// Numeric kernels kept whole because splitting them would hide the arithmetic: `module::fn`.
const KERNELS: &[&str] = &[
    "engine::model::dense::dense_forward",
    "engine::model::dense::backward",
    "engine::sequence::attention::backward_batch",
    "engine::sequence::gru::backward",
];

/// Each function of `code` with the lines its body spans: (name, lines).
fn function_lengths(code: &str) -> Vec<(String, usize)> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = find_word(&code[from..], "fn").map(|i| from + i) {
        from = i + 2;
        let name: String = code[i + 2..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue; // a function pointer type, `fn(…)`
        }
        // The body opens at the first `{` before any `;` (a declaration without a body).
        let Some(open) = code[i..].find(['{', ';']).map(|o| i + o) else {
            break;
        };
        if b[open] == b';' {
            continue;
        }
        let mut depth = 0usize;
        let mut close = open;
        for (k, &c) in b[open..].iter().enumerate() {
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + k;
                        break;
                    }
                }
                _ => {}
            }
        }
        let lines = code[i..=close].lines().count();
        out.push((name, lines));
    }
    out
}

#[test]
fn functions_fit_on_a_screen_outside_the_named_kernels() {
    let mut long = Vec::new();
    for (path, m) in modules() {
        for (name, lines) in function_lengths(&m.code) {
            let key = format!("{}::{name}", path.join("::"));
            if lines > MAX_FN_LINES && !KERNELS.contains(&key.as_str()) {
                long.push(format!("{key} ({lines} lines)"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "{} functions over {MAX_FN_LINES} lines: {long:#?}",
        long.len()
    );
}

#[test]
fn the_function_length_check_measures_bodies_not_declarations() {
    let code = strip("trait T { fn a(&self); }\nfn b() {\n    if x { y() }\n}\nfn c() {}");
    assert_eq!(
        function_lengths(&code),
        [("b".to_owned(), 3), ("c".to_owned(), 1)]
    );
}

#[test]
fn http_only_parses_requests_and_shapes_responses() {
    for (path, m) in modules() {
        if path.first().map(String::as_str) != Some("http") {
            continue;
        }
        for banned in ["store::", "plan::", "jobs::inputs"] {
            assert!(
                !m.code.contains(banned),
                "{} names {banned}: store reads and planning belong to jobs::",
                m.file.display()
            );
        }
    }
}

#[test]
fn the_stored_spec_is_parsed_only_by_the_stores_typed_read() {
    for (path, m) in modules() {
        let joined = path.join("::");
        if joined == "store::typed" || joined.starts_with("domain") {
            continue;
        }
        for parse in [
            "JobSpec::from_stored(",
            "from_str::<JobSpec>",
            ": JobSpec = serde_json",
        ] {
            assert!(
                !m.code.contains(parse),
                "{} parses a stored spec ({parse}); read it through store::typed",
                m.file.display()
            );
        }
    }
}

/// Where a model family may be named by its variant: the kind's own declarations and the
/// registry that builds the networks. Everything else asks the kind (`reads_sequences`,
/// `is_recurrent`, …) or the network (`Network`), so a family is an addition.
const FAMILY_REGISTRY: &[&str] = &["domain::model_spec", "engine::model::registry"];

/// `ModelKind::Variant` (not `ModelKind::ALL` or an associated function) in `code`.
fn family_variants(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("ModelKind::") {
        let rest = &code[i + "ModelKind::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let variant = name.chars().next().is_some_and(char::is_uppercase)
            && name.chars().any(char::is_lowercase);
        if variant {
            out.push(name);
        }
    }
    out
}

#[test]
fn only_the_family_registry_names_a_family() {
    for (path, m) in modules() {
        if FAMILY_REGISTRY.contains(&path.join("::").as_str()) || path.iter().any(|p| p == "tests")
        {
            continue;
        }
        let named = family_variants(&m.code);
        assert!(
            named.is_empty(),
            "{} names the families {named:?}: ask the kind or the network instead",
            m.file.display()
        );
    }
}

/// Each family's network types and the modules that hold them: outside those and the family
/// registry (the kinds, and the builder) no code names them, so adding a family is its own folder plus the
/// registry's lines.
const FAMILY_TYPES: &[(&str, &str)] = &[
    ("TableNet", "engine::model::table"),
    ("Recurrent", "engine::model::recurrent"),
    ("Gru", "engine::sequence"),
    ("Lstm", "engine::sequence"),
    ("ConvFamily", "engine::conv"),
];

/// Whether `code` has `word` as a whole identifier.
fn names_identifier(code: &str, word: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    code.match_indices(word).any(|(i, _)| {
        let before = code[..i].chars().next_back().is_none_or(|c| !ident(c));
        let after = code[i + word.len()..]
            .chars()
            .next()
            .is_none_or(|c| !ident(c));
        before && after
    })
}

#[test]
fn only_the_registry_and_its_folder_name_a_family_network() {
    assert!(names_identifier("Box::new(Lstm::new())", "Lstm"));
    assert!(!names_identifier("LstmCell; my_Lstm", "Lstm"));
    for (path, m) in modules() {
        let module = path.join("::");
        if FAMILY_REGISTRY.contains(&module.as_str()) || path.iter().any(|p| p == "tests") {
            continue;
        }
        for (ty, home) in FAMILY_TYPES {
            let at_home = module == *home || module.starts_with(&format!("{home}::"));
            assert!(
                at_home || !names_identifier(&m.code, ty),
                "{} names {ty}, a family's network: build it through engine::model::registry",
                m.file.display()
            );
        }
    }
}

#[test]
fn the_family_check_sees_variants_but_not_associated_items() {
    let code =
        strip("if m.kind == ModelKind::Gru {}\nModelKind::ALL; ModelKind::names_reading(true)");
    assert_eq!(family_variants(&code), vec!["Gru".to_owned()]);
}
