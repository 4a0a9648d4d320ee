//! Parsing of `#[session(..)]` and `#[flash]`: one attribute at a time, values validated where
//! they stand so each error lands on the literal or key at fault.

use proc_macro2::Span;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, ExprPath, Lit, LitStr, Meta, Path, Token};

use crate::ctxt::Errors;

/// The keys `#[session(..)]` takes on a field, for "expected one of" messages.
const FIELD_KEYS: &str = "`flash`, `skip`, `ttl = \"10m\"`, `rename = \"key\"`, `default = \"path\"`";
/// The keys `#[session(..)]` takes on the struct.
const CONTAINER_KEYS: &str = "`name = \"cookie_name\"`, `crate = \"path\"`";

/// A `default = "path"` as written and as parsed; the path carries the literal's span, so
/// errors from the call it becomes point at the literal.
pub(crate) struct DefaultFn {
    pub(crate) lit: LitStr,
    pub(crate) path: ExprPath,
}

/// The attributes of one field.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    /// `#[flash]` or `#[session(flash)]`: where it was written.
    pub(crate) flash: Option<Span>,
    /// `#[session(skip)]`: where it was written.
    pub(crate) skip: Option<Span>,
    /// `ttl = ".."` in milliseconds, already checked to be at least one.
    pub(crate) ttl: Option<u64>,
    pub(crate) rename: Option<LitStr>,
    pub(crate) default: Option<DefaultFn>,
    /// Every key seen, in source order, with where it was written: the `skip` rule needs to
    /// know which attribute came second.
    pub(crate) order: Vec<(&'static str, Span)>,
}

/// The attributes of the struct.
#[derive(Default)]
pub(crate) struct ContainerAttrs {
    /// `name = ".."`, already checked to be a valid cookie name.
    pub(crate) name: Option<LitStr>,
    /// `crate = ".."`, parsed; `None` also when the literal was not a path (error recorded).
    pub(crate) krate: Option<Path>,
}

impl FieldAttrs {
    /// Reads the `#[flash]` and `#[session(..)]` attributes among `attrs`, recording errors.
    pub(crate) fn parse(attrs: &[Attribute], errors: &mut Errors) -> Self {
        let mut out = Self::default();
        for attr in attrs {
            if attr.path().is_ident("flash") {
                match &attr.meta {
                    Meta::Path(path) => out.set_flag("flash", path.span(), errors),
                    Meta::List(list) => errors.spanned(&list.tokens, "`#[flash]` takes no arguments: write `#[flash]`"),
                    Meta::NameValue(nv) => errors.spanned(&nv.value, "`#[flash]` takes no value: write `#[flash]`"),
                }
            } else if attr.path().is_ident("session") {
                for meta in session_metas(attr, errors) {
                    out.parse_meta(&meta, errors);
                }
            }
        }
        out
    }

    fn parse_meta(&mut self, meta: &Meta, errors: &mut Errors) {
        let path = meta.path();
        let key_span = path.span();
        let Some(key) = key_name(path) else {
            errors.spanned(path, format_args!("unknown session attribute; expected one of {FIELD_KEYS}"));
            return;
        };
        match key.as_str() {
            "flash" | "skip" => {
                let key = if key == "flash" { "flash" } else { "skip" };
                if no_value(meta, key, errors) {
                    self.set_flag(key, key_span, errors);
                }
            }
            "ttl" => {
                let Some(lit) = string_value(meta, "ttl", "\"10m\"", errors) else { return };
                if !self.first("ttl", key_span, errors) {
                    return;
                }
                if let Some(millis) = parse_ttl(&lit, errors) {
                    self.ttl = Some(millis);
                }
            }
            "rename" => {
                let Some(lit) = string_value(meta, "rename", "\"key\"", errors) else { return };
                if !self.first("rename", key_span, errors) {
                    return;
                }
                if lit.value().is_empty() {
                    errors.at(lit.span(), "a storage key cannot be empty; give a name like `rename = \"user\"`");
                } else {
                    self.rename = Some(lit);
                }
            }
            "default" => {
                let Some(lit) = string_value(meta, "default", "\"path::to::function\"", errors) else { return };
                if !self.first("default", key_span, errors) {
                    return;
                }
                match lit.parse::<ExprPath>() {
                    Ok(path) => self.default = Some(DefaultFn { lit, path }),
                    Err(_) => errors.at(
                        lit.span(),
                        "`default` takes the path of a function returning the field's value, e.g. \
                         `default = \"Theme::light\"` (no parentheses, no expression)",
                    ),
                }
            }
            "name" | "crate" => errors.at(
                key_span,
                format_args!("`{key}` belongs on the struct, not on a field: `#[session({key} = \"..\")] struct ..`"),
            ),
            _ => errors.at(key_span, format_args!("unknown session attribute `{key}`; expected one of {FIELD_KEYS}")),
        }
    }

    /// Records `key` in source order; `false` (and an error on `span`) if it was already given.
    fn first(&mut self, key: &'static str, span: Span, errors: &mut Errors) -> bool {
        if self.order.iter().any(|(k, _)| *k == key) {
            errors.at(span, format_args!("duplicate `{key}` attribute on this field; keep only one"));
            return false;
        }
        self.order.push((key, span));
        true
    }

    fn set_flag(&mut self, key: &'static str, span: Span, errors: &mut Errors) {
        if self.first(key, span, errors) {
            match key {
                "flash" => self.flash = Some(span),
                _ => self.skip = Some(span),
            }
        }
    }
}

impl ContainerAttrs {
    /// Reads the struct's `#[session(..)]` attributes, recording errors; `#[flash]` there is
    /// one too.
    pub(crate) fn parse(attrs: &[Attribute], errors: &mut Errors) -> Self {
        let mut out = Self::default();
        let mut seen: Vec<&'static str> = Vec::new();
        for attr in attrs {
            if attr.path().is_ident("flash") {
                errors.spanned(attr, "`#[flash]` goes on a field of type `Option<_>` or `Vec<_>`, not on the struct");
                continue;
            }
            if !attr.path().is_ident("session") {
                continue;
            }
            for meta in session_metas(attr, errors) {
                let path = meta.path();
                let Some(key) = key_name(path) else {
                    errors.spanned(path, format_args!("unknown session attribute; expected one of {CONTAINER_KEYS}"));
                    continue;
                };
                let key: &'static str = match key.as_str() {
                    "name" => "name",
                    "crate" => "crate",
                    "flash" | "skip" | "ttl" | "rename" | "default" => {
                        errors.at(
                            path.span(),
                            format_args!(
                                "`{key}` belongs on a field, not on the struct; move it to the field it is for"
                            ),
                        );
                        continue;
                    }
                    _ => {
                        errors.at(
                            path.span(),
                            format_args!(
                                "unknown session attribute `{key}` on the struct; expected one of {CONTAINER_KEYS}"
                            ),
                        );
                        continue;
                    }
                };
                let example = if key == "name" { "\"app\"" } else { "\"my_crate::sessions\"" };
                let Some(lit) = string_value(&meta, key, example, errors) else { continue };
                if seen.contains(&key) {
                    errors.at(path.span(), format_args!("duplicate `{key}` attribute on the struct; keep only one"));
                    continue;
                }
                seen.push(key);
                if key == "name" {
                    if check_cookie_name(&lit.value(), lit.span(), "", errors) {
                        out.name = Some(lit);
                    }
                } else {
                    match lit.parse::<Path>() {
                        Ok(path) => out.krate = Some(path),
                        Err(_) => errors.at(
                            lit.span(),
                            "`crate` takes the path under which `session_kit` is reachable, e.g. \
                             `crate = \"my_crate::sessions\"` or `crate = \"::session_kit\"`",
                        ),
                    }
                }
            }
        }
        out
    }
}

/// The comma-separated items of `#[session(..)]`; an error and nothing for any other form.
fn session_metas(attr: &Attribute, errors: &mut Errors) -> Vec<Meta> {
    match &attr.meta {
        Meta::List(list) => match list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) {
            Ok(metas) => metas.into_iter().collect(),
            Err(error) => {
                errors.push(error);
                Vec::new()
            }
        },
        _ => {
            errors.spanned(attr, "expected `#[session(..)]` with a list, e.g. `#[session(rename = \"key\")]`");
            Vec::new()
        }
    }
}

/// The key of an attribute item if it is a single identifier (keywords such as `crate`
/// included).
fn key_name(path: &Path) -> Option<String> {
    match (path.leading_colon, path.segments.len()) {
        (None, 1) if path.segments[0].arguments.is_none() => Some(path.segments[0].ident.to_string()),
        _ => None,
    }
}

/// Checks that a flag such as `skip` was written bare; an error on the extra tokens otherwise.
fn no_value(meta: &Meta, key: &str, errors: &mut Errors) -> bool {
    match meta {
        Meta::Path(_) => true,
        Meta::List(list) => {
            errors.spanned(&list.tokens, format_args!("`{key}` takes no arguments: write `#[session({key})]`"));
            false
        }
        Meta::NameValue(nv) => {
            errors.spanned(&nv.value, format_args!("`{key}` takes no value: write `#[session({key})]`"));
            false
        }
    }
}

/// The string literal of `key = ".."`; an error on the offending tokens for any other form.
fn string_value(meta: &Meta, key: &str, example: &str, errors: &mut Errors) -> Option<LitStr> {
    match meta {
        Meta::NameValue(nv) => match &nv.value {
            Expr::Lit(ExprLit { lit: Lit::Str(lit), .. }) => Some(lit.clone()),
            other => {
                errors.spanned(other, format_args!("`{key}` takes a string literal: `{key} = {example}`"));
                None
            }
        },
        Meta::Path(path) => {
            errors.spanned(path, format_args!("`{key}` needs a value: `{key} = {example}`"));
            None
        }
        Meta::List(list) => {
            errors.spanned(list, format_args!("`{key}` takes `=` and a string literal: `{key} = {example}`"));
            None
        }
    }
}

/// Parses a humane duration into whole milliseconds, the resolution of session timestamps.
fn parse_ttl(lit: &LitStr, errors: &mut Errors) -> Option<u64> {
    let text = lit.value();
    let duration = match humantime::parse_duration(&text) {
        Ok(d) => d,
        Err(e) => {
            errors.at(
                lit.span(),
                format_args!("invalid ttl `{text}` ({e}); write a duration like \"30s\", \"10m\", \"12h\" or \"7d\""),
            );
            return None;
        }
    };
    if duration.is_zero() {
        errors.at(
            lit.span(),
            "a ttl of zero would expire the value as soon as it is written; give a positive duration like \
             \"10m\", or remove `ttl`",
        );
        return None;
    }
    if duration.subsec_nanos() % 1_000_000 != 0 {
        errors.at(
            lit.span(),
            format_args!("ttl `{text}` is not a whole number of milliseconds, the resolution of session timestamps"),
        );
        return None;
    }
    match u64::try_from(duration.as_millis()) {
        Ok(millis) => Some(millis),
        Err(_) => {
            errors.at(lit.span(), format_args!("ttl `{text}` is too long to store; give a shorter duration"));
            None
        }
    }
}

/// Checks `name` is an RFC 6265 cookie name (an RFC 2616 token): visible ASCII other than
/// separators. `hint` is appended to the message (how to set a name explicitly).
pub(crate) fn check_cookie_name(name: &str, span: Span, hint: &str, errors: &mut Errors) -> bool {
    const SEPARATORS: &[char] = &['(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=', '{', '}'];
    if name.is_empty() {
        errors.at(
            span,
            format_args!("a session name cannot be empty; it is the cookie name, e.g. `name = \"app\"`{hint}"),
        );
        return false;
    }
    let bad = name.chars().find(|c| !c.is_ascii_graphic() || SEPARATORS.contains(c));
    match bad {
        None => true,
        Some(c) => {
            errors.at(
                span,
                format_args!(
                    "`{name}` is not a valid cookie name: {c:?} is not allowed; use ASCII letters, digits and \
                     ! # $ % & ' * + - . ^ _ ` | ~{hint}"
                ),
            );
            false
        }
    }
}
#[cfg(test)]
mod tests {
    use syn::{parse_quote, Attribute};

    use super::{ContainerAttrs, FieldAttrs};
    use crate::ctxt::Errors;

    /// The messages of the errors recorded, in order.
    fn messages(errors: Errors) -> Vec<String> {
        errors.finish().err().map(|all| all.into_iter().map(|e| e.to_string()).collect()).unwrap_or_default()
    }

    fn field(attrs: &[Attribute]) -> (FieldAttrs, Vec<String>) {
        let mut errors = Errors::default();
        let attrs = FieldAttrs::parse(attrs, &mut errors);
        (attrs, messages(errors))
    }

    fn duplicate(name: &str, on: &str) -> String {
        format!("duplicate `{name}` attribute on {on}; keep only one")
    }

    #[test]
    fn a_second_field_attribute_is_a_duplicate_and_the_first_stands() {
        let (attrs, errors) = field(&[
            parse_quote!(#[session(ttl = "10m", rename = "a")]),
            parse_quote!(#[session(ttl = "20m", rename = "b")]),
        ]);
        assert_eq!(errors, [duplicate("ttl", "this field"), duplicate("rename", "this field")]);
        assert_eq!(attrs.ttl, Some(600_000));
        assert_eq!(attrs.rename.map(|lit| lit.value()).as_deref(), Some("a"));
        let order: Vec<&str> = attrs.order.iter().map(|(key, _)| *key).collect();
        assert_eq!(order, ["ttl", "rename"], "each attribute once, where it was first given");
    }

    #[test]
    fn flash_written_both_ways_is_one_attribute() {
        let (attrs, errors) = field(&[parse_quote!(#[flash]), parse_quote!(#[session(flash, skip, skip)])]);
        assert_eq!(errors, [duplicate("flash", "this field"), duplicate("skip", "this field")]);
        assert!(attrs.flash.is_some() && attrs.skip.is_some());
    }

    #[test]
    fn a_duplicate_is_reported_whatever_its_values() {
        // The duplicate's own value is not read: one mistake, one error.
        let (attrs, errors) = field(&[parse_quote!(#[session(ttl = "10m", ttl = "soon")])]);
        assert_eq!(errors, [duplicate("ttl", "this field")]);
        assert_eq!(attrs.ttl, Some(600_000));
        // An invalid first value still makes the second a duplicate: both mistakes in one build.
        let (attrs, errors) = field(&[parse_quote!(#[session(rename = "", rename = "k")])]);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("a storage key cannot be empty"), "{errors:?}");
        assert_eq!(errors[1], duplicate("rename", "this field"));
        assert!(attrs.rename.is_none());
    }

    #[test]
    fn a_malformed_attribute_is_not_given() {
        // `ttl` without a value is reported as such, and the `ttl` after it is the one given.
        let (attrs, errors) = field(&[parse_quote!(#[session(ttl, ttl = "1s")])]);
        assert_eq!(errors, ["`ttl` needs a value: `ttl = \"10m\"`"]);
        assert_eq!(attrs.ttl, Some(1_000));
    }

    #[test]
    fn the_struct_catches_duplicates_the_same_way() {
        let mut errors = Errors::default();
        let attrs = ContainerAttrs::parse(
            &[parse_quote!(#[session(name = "a", crate = "x")]), parse_quote!(#[session(crate = "y", name = "b")])],
            &mut errors,
        );
        assert_eq!(messages(errors), [duplicate("crate", "the struct"), duplicate("name", "the struct")]);
        assert_eq!(attrs.name.map(|lit| lit.value()).as_deref(), Some("a"));
        assert!(attrs.krate.is_some_and(|path| path.is_ident("x")));
    }
}
