//! Compiled message bodies, kept between renders. A campaign renders the
//! same body for every member it sends: compiling it and building a
//! minijinja environment (whose default filters and tests are maps cloned
//! at every `Environment::new`) for each message cost about 1% of
//! Herald's CPU in the dispatch benchmark, more than the render itself.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use minijinja::{AutoEscape, Environment, UndefinedBehavior};

/// Bodies kept at once. Past this many the cache starts over: campaigns
/// sending at the same time rarely use more distinct bodies, and a body
/// missing from the cache is compiled again, never rendered wrong.
const KEPT: usize = 64;

/// The name the body goes by in its environment.
const BODY: &str = "body";

/// Compiled bodies by source, one map per setting (strict or not, plain
/// or HTML: undefined behaviour and escaping are environment-wide), so a
/// render looks its body up by `&str` without copying it into a key.
type Kept = [HashMap<String, Arc<Environment<'static>>>; 4];

static COMPILED: LazyLock<Mutex<Kept>> = LazyLock::new(Mutex::default);

/// The environment holding `source` compiled for these settings, compiled
/// now if no render has compiled it yet. A syntax error is returned and
/// not kept.
pub(super) fn compiled(
    source: &str,
    strict: bool,
    escape: AutoEscape,
) -> Result<Arc<Environment<'static>>, minijinja::Error> {
    let html = match escape {
        AutoEscape::None => 0,
        AutoEscape::Html => 1,
        // Only the two modes above are asked for (plain text, HTML parts).
        _ => return compile(source, strict, escape).map(Arc::new),
    };
    let setting = usize::from(strict) * 2 + html;
    if let Some(env) = lock()[setting].get(source) {
        return Ok(env.clone());
    }
    // Compiled outside the lock: another thread may compile the same body
    // meanwhile, and the last one kept wins (both are the same).
    let env = Arc::new(compile(source, strict, escape)?);
    let mut kept = lock();
    if kept.iter().map(HashMap::len).sum::<usize>() >= KEPT {
        kept.iter_mut().for_each(HashMap::clear);
    }
    kept[setting].insert(source.to_owned(), env.clone());
    Ok(env)
}

/// Renders `env`'s body (from [`compiled`]) with `values`.
pub(super) fn render<S: serde::Serialize>(
    env: &Environment<'static>,
    values: S,
) -> Result<String, minijinja::Error> {
    env.get_template(BODY)?.render(values)
}

/// Every top-level variable `env`'s body refers to.
pub(super) fn variables(
    env: &Environment<'static>,
) -> Result<std::collections::BTreeSet<String>, minijinja::Error> {
    Ok(env
        .get_template(BODY)?
        .undeclared_variables(false)
        .into_iter()
        .collect())
}

fn lock() -> std::sync::MutexGuard<'static, Kept> {
    // The map is whole whatever a panicking holder was doing: a lookup or
    // an insert of a finished value.
    COMPILED.lock().unwrap_or_else(PoisonError::into_inner)
}

fn compile(
    source: &str,
    strict: bool,
    escape: AutoEscape,
) -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(move |_| escape);
    env.add_filter("raw", |v: minijinja::Value| {
        minijinja::Value::from_safe_string(v.to_string())
    });
    if strict {
        env.set_undefined_behavior(UndefinedBehavior::Strict);
    }
    env.add_template_owned(BODY, source.to_owned())?;
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_body_is_compiled_once_per_setting_and_rendered_from_the_cache() {
        let source = "Hi {{ first_name }} (template_cache test)";
        let first = compiled(source, true, AutoEscape::None).unwrap();
        let again = compiled(source, true, AutoEscape::None).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "the second render recompiled");
        let html = compiled(source, true, AutoEscape::Html).unwrap();
        assert!(
            !Arc::ptr_eq(&first, &html),
            "HTML shares plain text's environment"
        );
        let values = BTreeMap::from([("first_name", "<Ann>")]);
        assert_eq!(
            render(&first, &values).unwrap(),
            "Hi <Ann> (template_cache test)"
        );
        assert_eq!(
            render(&html, &values).unwrap(),
            "Hi &lt;Ann&gt; (template_cache test)"
        );
    }

    #[test]
    fn a_syntax_error_is_returned_every_time_and_not_kept() {
        let source = "Hi {{ first_name (template_cache test)";
        assert!(compiled(source, false, AutoEscape::None).is_err());
        assert!(compiled(source, false, AutoEscape::None).is_err());
    }
}
