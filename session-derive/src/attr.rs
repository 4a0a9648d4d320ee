//! Parsing of `#[session(..)]` and `#[flash]`: one attribute at a time, values validated where
//! they stand so each error lands on the literal or key at fault.

use proc_macro2::Span;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, ExprPath, Lit, LitStr, Meta, Path, Token};

use crate::ctxt::Errors;

/// The keys `#[session(..)]` takes on a field, for "expected one of" messages.
const FIELD_KEYS: &str = "`flash`, `skip`, `owner`, `ttl = \"10m\"`, `rename = \"key\"`, `default = \"path\"`";
/// The keys `#[session(..)]` takes on the struct.
const CONTAINER_KEYS: &str = "`name = \"cookie_name\"`, `crate = \"path\"`";

/// A `default = "path"` as written and as parsed; the path carries the literal's span, so
/// errors from the call it becomes point at the literal.
pub(crate) struct DefaultFn {
    pub(crate) lit: LitStr,
    pub(crate) path: ExprPath,
}

/// The attributes of one field.
pub(crate) struct FieldAttrs {
    /// `#[flash]` or `#[session(flash)]`: where it was written.
    pub(crate) flash: Option<Span>,
    /// `#[session(skip)]`: where it was written.
    pub(crate) skip: Option<Span>,
    /// `#[session(owner)]`: where it was written.
    pub(crate) owner: Option<Span>,
    /// `ttl = ".."` in milliseconds, already checked to be at least one.
    pub(crate) ttl: Option<u64>,
    pub(crate) rename: Option<LitStr>,
    pub(crate) default: Option<DefaultFn>,
    /// Every key given, in source order, with where it was written: the `skip` rule needs to
    /// know which attribute came second.
    pub(crate) order: Vec<(&'static str, Span)>,
}

/// The attributes of the struct.
pub(crate) struct ContainerAttrs {
    /// `name = ".."`, already checked to be a valid cookie name.
    pub(crate) name: Option<LitStr>,
    /// `crate = ".."`, parsed; `None` also when the literal was not a path (error recorded).
    pub(crate) krate: Option<Path>,
}

/// An attribute that may be given once, after serde_derive's `Attr`: its value and where it
/// was given. Fields and the struct catch a duplicate the same way, through [`Attr::set`].
struct Attr<T> {
    name: &'static str,
    /// What it is given on, for the duplicate's message: "this field" or "the struct".
    on: &'static str,
    /// Where it was first given: also when its value was invalid, so that a second occurrence
    /// is still a duplicate and all the mistakes are reported in one build.
    span: Option<Span>,
    value: Option<T>,
}

impl<T> Attr<T> {
    fn none(name: &'static str, on: &'static str) -> Self {
        Self { name, on, span: None, value: None }
    }

    /// Records the attribute given at `key`, with what `value` makes of it (`None` when it
    /// reported the value invalid); returns `true`. If it was given before: reports "duplicate
    /// attribute" on `key` and returns `false`, the first one standing and this value unread.
    fn set(&mut self, key: &Path, errors: &mut Errors, value: impl FnOnce(&mut Errors) -> Option<T>) -> bool {
        if self.span.is_some() {
            errors.spanned(key, format_args!("duplicate `{}` attribute on {}; keep only one", self.name, self.on));
            return false;
        }
        self.span = Some(key.span());
        self.value = value(errors);
        true
    }

    fn get(self) -> Option<T> {
        self.value
    }
}

/// The field's attributes while they are read.
struct FieldBuilder {
    flash: Attr<()>,
    skip: Attr<()>,
    owner: Attr<()>,
    ttl: Attr<u64>,
    rename: Attr<LitStr>,
    default: Attr<DefaultFn>,
    order: Vec<(&'static str, Span)>,
}

impl FieldAttrs {
    /// Reads the `#[flash]` and `#[session(..)]` attributes among `attrs`, recording errors.
    pub(crate) fn parse(attrs: &[Attribute], errors: &mut Errors) -> Self {
        const ON: &str = "this field";
        let mut field = FieldBuilder {
            flash: Attr::none("flash", ON),
            skip: Attr::none("skip", ON),
            owner: Attr::none("owner", ON),
            ttl: Attr::none("ttl", ON),
            rename: Attr::none("rename", ON),
            default: Attr::none("default", ON),
            order: Vec::new(),
        };
        for attr in attrs {
            if attr.path().is_ident("flash") {
                match &attr.meta {
                    Meta::Path(path) => field.flag("flash", path, errors),
                    Meta::List(list) => errors.spanned(&list.tokens, "`#[flash]` takes no arguments: write `#[flash]`"),
                    Meta::NameValue(nv) => errors.spanned(&nv.value, "`#[flash]` takes no value: write `#[flash]`"),
                }
            } else if attr.path().is_ident("session") {
                for meta in session_metas(attr, errors) {
                    field.parse_meta(&meta, errors);
                }
            }
        }
        Self {
            flash: field.flash.span,
            skip: field.skip.span,
            owner: field.owner.span,
            ttl: field.ttl.get(),
            rename: field.rename.get(),
            default: field.default.get(),
            order: field.order,
        }
    }
}

impl FieldBuilder {
    fn parse_meta(&mut self, meta: &Meta, errors: &mut Errors) {
        let path = meta.path();
        let Some(key) = key_name(path) else {
            errors.spanned(path, format_args!("unknown session attribute; expected one of {FIELD_KEYS}"));
            return;
        };
        match key.as_str() {
            "flash" | "skip" | "owner" => {
                let key = match key.as_str() {
                    "flash" => "flash",
                    "skip" => "skip",
                    _ => "owner",
                };
                if no_value(meta, key, errors) {
                    self.flag(key, path, errors);
                }
            }
            "ttl" => {
                let Some(lit) = string_value(meta, "ttl", "\"10m\"", errors) else { return };
                let first = self.ttl.set(path, errors, |errors| parse_ttl(&lit, errors));
                self.given(first, "ttl", path);
            }
            "rename" => {
                let Some(lit) = string_value(meta, "rename", "\"key\"", errors) else { return };
                let first = self.rename.set(path, errors, |errors| {
                    if lit.value().is_empty() {
                        errors.at(lit.span(), "a storage key cannot be empty; give a name like `rename = \"user\"`");
                        return None;
                    }
                    Some(lit)
                });
                self.given(first, "rename", path);
            }
            "default" => {
                let Some(lit) = string_value(meta, "default", "\"path::to::function\"", errors) else { return };
                let first = self.default.set(path, errors, |errors| match lit.parse::<ExprPath>() {
                    Ok(path) => Some(DefaultFn { lit, path }),
                    Err(_) => {
                        errors.at(
                            lit.span(),
                            "`default` takes the path of a function returning the field's value, e.g. \
                             `default = \"Theme::light\"` (no parentheses, no expression)",
                        );
                        None
                    }
                });
                self.given(first, "default", path);
            }
            "name" | "crate" => errors.at(
                path.span(),
                format_args!("`{key}` belongs on the struct, not on a field: `#[session({key} = \"..\")] struct ..`"),
            ),
            _ => {
                errors.at(path.span(), format_args!("unknown session attribute `{key}`; expected one of {FIELD_KEYS}"))
            }
        }
    }

    /// `flash`, `skip` or `owner`, given at `key`.
    fn flag(&mut self, name: &'static str, key: &Path, errors: &mut Errors) {
        let attr = match name {
            "flash" => &mut self.flash,
            "skip" => &mut self.skip,
            _ => &mut self.owner,
        };
        let first = attr.set(key, errors, |_| Some(()));
        self.given(first, name, key);
    }

    /// Keeps the source order of the attributes given (their first occurrence).
    fn given(&mut self, first: bool, name: &'static str, key: &Path) {
        if first {
            self.order.push((name, key.span()));
        }
    }
}

impl ContainerAttrs {
    /// Reads the struct's `#[session(..)]` attributes, recording errors; `#[flash]` there is
    /// one too.
    pub(crate) fn parse(attrs: &[Attribute], errors: &mut Errors) -> Self {
        const ON: &str = "the struct";
        let mut name = Attr::none("name", ON);
        let mut krate = Attr::none("crate", ON);
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
                match key.as_str() {
                    "name" => {
                        let Some(lit) = string_value(&meta, "name", "\"app\"", errors) else { continue };
                        name.set(path, errors, |errors| {
                            check_cookie_name(&lit.value(), lit.span(), "", errors).then_some(lit)
                        });
                    }
                    "crate" => {
                        let Some(lit) = string_value(&meta, "crate", "\"my_crate::sessions\"", errors) else {
                            continue;
                        };
                        krate.set(path, errors, |errors| match lit.parse::<Path>() {
                            Ok(path) => Some(path),
                            Err(_) => {
                                errors.at(
                                    lit.span(),
                                    "`crate` takes the path under which `session_kit` is reachable, e.g. \
                                     `crate = \"my_crate::sessions\"` or `crate = \"::session_kit\"`",
                                );
                                None
                            }
                        });
                    }
                    "flash" | "skip" | "owner" | "ttl" | "rename" | "default" => errors.at(
                        path.span(),
                        format_args!("`{key}` belongs on a field, not on the struct; move it to the field it is for"),
                    ),
                    _ => errors.at(
                        path.span(),
                        format_args!(
                            "unknown session attribute `{key}` on the struct; expected one of {CONTAINER_KEYS}"
                        ),
                    ),
                }
            }
        }
        Self { name: name.get(), krate: krate.get() }
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
