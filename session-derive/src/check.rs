//! Rules that need more than one attribute, or a field's type, or several fields: `#[flash]`
//! field types, `skip` conflicts, unique storage keys and unique cookie tags.

use std::collections::HashMap;

use quote::ToTokens;
use syn::Type;

use crate::ast::{Container, Field};
use crate::ctxt::Errors;

/// Applies the rules about one field's attributes and type; called as each field is read, so
/// errors come out in source order.
pub(crate) fn field(field: &mut Field<'_>, errors: &mut Errors) {
    let before = errors.count();
    check_flash_type(field, errors);
    check_skip_alone(field, errors);
    check_owner_not_flash(field, errors);
    field.faulty |= errors.count() != before;
}

/// Applies the rules that span fields, once all are read.
pub(crate) fn container(cont: &mut Container<'_>, errors: &mut Errors) {
    check_one_owner(cont, errors);
    check_unique_keys(cont, errors);
    check_unique_tags(cont, errors);
}

fn check_flash_type(field: &Field<'_>, errors: &mut Errors) {
    if field.attrs.flash.is_none() || field.attrs.skip.is_some() {
        // A skipped flash is reported by the `skip` rule instead.
        return;
    }
    if !is_option_or_vec(field.ty) {
        let ty = field.ty.to_token_stream();
        errors.spanned(
            field.ty,
            format_args!(
                "`#[flash]` needs a field of type `Option<_>` or `Vec<_>`, found `{ty}`: a flash value is \
                 emptied once delivered; use `Option<{ty}>`"
            ),
        );
    }
}

/// Whether the type's last path segment is `Option` or `Vec` (`std::option::Option<T>` too).
fn is_option_or_vec(ty: &Type) -> bool {
    match ty {
        Type::Path(path) if path.qself.is_none() => {
            path.path.segments.last().is_some_and(|s| s.ident == "Option" || s.ident == "Vec")
        }
        // Types passed through `macro_rules!` arrive wrapped in invisible groups.
        Type::Group(group) => is_option_or_vec(&group.elem),
        Type::Paren(paren) => is_option_or_vec(&paren.elem),
        _ => false,
    }
}

/// `skip` excludes the field from storage, so every other attribute would be silently ignored:
/// the one written second is the error.
fn check_skip_alone(field: &Field<'_>, errors: &mut Errors) {
    let Some(skip_at) = field.attrs.order.iter().position(|(k, _)| *k == "skip") else { return };
    let skip_span = field.attrs.order[skip_at].1;
    let mut skip_reported = false;
    for (index, (key, span)) in field.attrs.order.iter().enumerate() {
        if index == skip_at {
            continue;
        }
        let why = "a skipped field is never stored, so it cannot also be";
        let what = describe(key);
        if index > skip_at {
            errors.at(*span, format_args!("`{key}` cannot be combined with `skip`: {why} {what}; remove one of them"));
        } else if !skip_reported {
            skip_reported = true;
            errors.at(
                skip_span,
                format_args!("`skip` cannot be combined with `{key}`: {why} {what}; remove one of them"),
            );
        }
    }
}

fn describe(key: &str) -> &'static str {
    match key {
        "flash" => "a flash value",
        "ttl" => "given a ttl",
        "rename" => "stored under another key",
        "default" => "given a default for when nothing is stored (it always starts at `Default::default()`)",
        "owner" => "the session's owner (the owner is read from the stored record)",
        _ => "configured otherwise",
    }
}

/// A flash value is gone after the next request, so a session would leave its owner's list
/// on its own. (On a skipped field the `skip` rule reports it.)
fn check_owner_not_flash(field: &Field<'_>, errors: &mut Errors) {
    let (Some(owner), Some(_), None) = (field.attrs.owner, field.attrs.flash, field.attrs.skip) else { return };
    errors.at(
        owner,
        "`owner` cannot be on a `#[flash]` field: a flash value is gone after the next request, and the \
         session would leave its owner's list with it; put `#[session(owner)]` on a plain field",
    );
}

/// A session has one owner: the field its owner's index is kept by.
fn check_one_owner(cont: &mut Container<'_>, errors: &mut Errors) {
    let mut first: Option<usize> = None;
    for index in 0..cont.fields.len() {
        let Some(span) = cont.fields[index].attrs.owner else { continue };
        let Some(earlier) = first else {
            first = Some(index);
            continue;
        };
        let (this, other) = (cont.fields[index].ident, cont.fields[earlier].ident);
        errors.at(
            span,
            format_args!(
                "`{other}` is already the owner of this session; a session has one owner field, so \
                 remove `#[session(owner)]` from `{this}`"
            ),
        );
        cont.fields[index].faulty = true;
    }
}

/// Two stored fields under one key would overwrite each other in the store.
fn check_unique_keys(cont: &mut Container<'_>, errors: &mut Errors) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for index in 0..cont.fields.len() {
        let field = &cont.fields[index];
        if !field.is_stored() {
            continue;
        }
        let key = field.key();
        let Some(&first) = seen.get(&key) else {
            seen.insert(key, index);
            continue;
        };
        let earlier = &cont.fields[first];
        // Point at a `rename` if either field has one: that is what the user chose; two fields
        // without `rename` cannot collide, their names differ.
        let (span, fix) = match (&field.attrs.rename, &earlier.attrs.rename) {
            (Some(lit), _) => (lit.span(), "choose another `rename`"),
            (None, Some(lit)) => (lit.span(), "choose another `rename`"),
            (None, None) => (field.ident.span(), "rename one of them"),
        };
        let (this, other) = (field.ident, earlier.ident);
        errors.at(span, format_args!("fields `{other}` and `{this}` are both stored under the key \"{key}\"; {fix}"));
        cont.fields[index].faulty = true;
    }
}

/// Cookie sessions store an entry under a 16-bit hash of its key (its tag) rather than the key:
/// two fields with one tag could not be told apart there. Fields already reported for sharing a
/// key are left out (their tags agree too).
fn check_unique_tags(cont: &mut Container<'_>, errors: &mut Errors) {
    let mut seen: HashMap<u16, usize> = HashMap::new();
    for index in 0..cont.fields.len() {
        let field = &cont.fields[index];
        if !field.is_stored() || field.faulty {
            continue;
        }
        let key = field.key();
        let tag = crate::tag::field_tag(&key);
        let Some(&first) = seen.get(&tag) else {
            seen.insert(tag, index);
            continue;
        };
        let earlier = &cont.fields[first];
        let span = field.attrs.rename.as_ref().map_or(field.ident.span(), |lit| lit.span());
        let (this, other) = (field.ident, earlier.ident);
        errors.at(
            span,
            format_args!(
                "fields `{other}` and `{this}` share the cookie tag {tag:#06x} (a 16-bit hash of their keys \
                 \"{}\" and \"{key}\"), so cookie sessions could not tell them apart; store the newer of the \
                 two under another key with `#[session(rename = \"..\")]`",
                earlier.key()
            ),
        );
        cont.fields[index].faulty = true;
    }
}
