//! The derive's model of its input: the struct, its attributes and its fields.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, Ident, Type};

use crate::attr::{self, ContainerAttrs, FieldAttrs};
use crate::check;
use crate::ctxt::Errors;

/// The struct being derived.
pub(crate) struct Container<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) attrs: ContainerAttrs,
    /// The named fields, in declaration order; empty if the input is not a named-field struct.
    pub(crate) fields: Vec<Field<'a>>,
    /// Whether the input is a non-generic struct with named fields, so code naming its field
    /// types makes sense even when other errors were found.
    pub(crate) shape_ok: bool,
    /// The value of `NAME`: the `name` attribute or the struct name in snake_case.
    pub(crate) name: String,
}

/// One named field.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) attrs: FieldAttrs,
    /// Whether an error was found on this field; its type checks are then left out of the
    /// fallback code, so one typo does not also produce an error about the type.
    pub(crate) faulty: bool,
}

impl Field<'_> {
    /// Whether the field is stored (everything but `skip`).
    pub(crate) fn is_stored(&self) -> bool {
        self.attrs.skip.is_none()
    }

    /// The storage key: `rename`, or the field name without any `r#`.
    pub(crate) fn key(&self) -> String {
        match &self.attrs.rename {
            Some(lit) => lit.value(),
            None => self.ident.unraw().to_string(),
        }
    }
}

impl<'a> Container<'a> {
    /// Reads `input`, recording every problem with its shape or attributes in `errors`.
    pub(crate) fn from_ast(input: &'a DeriveInput, errors: &mut Errors) -> Self {
        let attrs = ContainerAttrs::parse(&input.attrs, errors);
        let mut shape_ok = true;
        let fields = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named
                    .named
                    .iter()
                    .map(|f| {
                        let before = errors.count();
                        let attrs = FieldAttrs::parse(&f.attrs, errors);
                        let mut field = Field {
                            // Named fields always have an ident.
                            ident: f.ident.as_ref().unwrap_or(&input.ident),
                            ty: &f.ty,
                            attrs,
                            faulty: errors.count() != before,
                        };
                        check::field(&mut field, errors);
                        field
                    })
                    .collect(),
                Fields::Unnamed(unnamed) => {
                    errors.spanned(
                        unnamed,
                        "a session cannot be a tuple struct: its field names are the storage keys; \
                         use named fields, e.g. `struct App { user_id: Option<u64> }`",
                    );
                    shape_ok = false;
                    Vec::new()
                }
                Fields::Unit => {
                    let (token, ident) = (data.struct_token, &input.ident);
                    errors.spanned(
                        quote!(#token #ident),
                        "a session cannot be a unit struct: it has nothing to store; add named fields, \
                         e.g. `struct App { user_id: Option<u64> }`",
                    );
                    shape_ok = false;
                    Vec::new()
                }
            },
            Data::Enum(data) => {
                errors.at(
                    data.enum_token.span,
                    "a session cannot be an enum: `#[derive(Session)]` needs a struct with named fields; \
                     keep the enum in a field instead, e.g. `struct App { state: State }`",
                );
                shape_ok = false;
                Vec::new()
            }
            Data::Union(data) => {
                errors.at(
                    data.union_token.span,
                    "a session cannot be a union: `#[derive(Session)]` needs a struct with named fields",
                );
                shape_ok = false;
                Vec::new()
            }
        };
        if !input.generics.params.is_empty() {
            errors.spanned(
                &input.generics,
                "session types cannot be generic: a session is stored and loaded as one concrete, owned type; \
                 remove the type, lifetime and const parameters and use concrete, owned field types",
            );
            shape_ok = false;
        }
        let name = match &attrs.name {
            Some(lit) => lit.value(),
            None => {
                let name = snake_case(&input.ident.unraw().to_string());
                let hint = "; set one with `#[session(name = \"..\")]`";
                attr::check_cookie_name(&name, input.ident.span(), hint, errors);
                name
            }
        };
        Container { ident: &input.ident, attrs, fields, shape_ok, name }
    }

    /// The path to the facade crate that generated code names everything through.
    pub(crate) fn krate(&self) -> TokenStream {
        match &self.attrs.krate {
            Some(path) => quote!(#path),
            None => quote!(::session_kit),
        }
    }

    /// The stored fields, in declaration order: their positions are the field indices.
    pub(crate) fn stored(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields.iter().filter(|f| f.is_stored())
    }
}

/// `AppSession` → `app_session`, `HTTPState` → `http_state`, `Auth2Fa` → `auth2_fa`.
fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1);
            // A new word starts after a lowercase letter or digit, and at the last capital of
            // an acronym followed by a lowercase letter (`HTTPState` → `http_state`).
            let starts_word = match prev {
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_uppercase() => next.is_some_and(|n| n.is_lowercase()),
                _ => false,
            };
            if starts_word && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn snake_case_splits_words_and_acronyms() {
        assert_eq!(snake_case("App"), "app");
        assert_eq!(snake_case("AppSession"), "app_session");
        assert_eq!(snake_case("HTTPState"), "http_state");
        assert_eq!(snake_case("Auth2Fa"), "auth2_fa");
        assert_eq!(snake_case("already_snake"), "already_snake");
        assert_eq!(snake_case("My_Cart"), "my_cart");
    }
}
