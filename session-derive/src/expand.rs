//! Code generation: the `impl SessionData`, or on errors a stub impl beside the errors.
//!
//! Everything generated names items through `<crate>::__private` with absolute paths, inside
//! `const _: () = { .. };`, so nothing leaks into or depends on the user's scope.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::DeriveInput;

use crate::ast::{Container, Field};
use crate::check;
use crate::ctxt::Errors;

/// Expands `#[derive(Session)]` on `input`: the impl, or every error found plus a stub impl.
pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let mut cont = Container::from_ast(input, &mut errors);
    check::container(&mut cont, &mut errors);
    match errors.finish() {
        Ok(()) => impl_session_data(&cont),
        Err(error) => fallback(input, &cont, &error),
    }
}

fn impl_session_data(cont: &Container<'_>) -> TokenStream {
    let krate = cont.krate();
    let p = quote!(#krate::__private);
    let ident = cont.ident;
    let name = &cont.name;
    let stored: Vec<&Field<'_>> = cont.stored().collect();

    let specs = stored.iter().map(|f| {
        let key = f.key();
        // The constructors, not a struct literal: `FieldSpec` is `#[non_exhaustive]`.
        let kind = if f.attrs.flash.is_some() { quote!(flash) } else { quote!(plain) };
        let ttl = f.attrs.ttl.as_ref().map(|millis| quote!(.with_ttl(#p::Duration::from_millis(#millis))));
        quote!(#p::FieldSpec::#kind(#key)#ttl)
    });

    let inits = cont.fields.iter().map(|f| {
        let member = f.ident;
        let value = default_value(f, &p);
        quote!(#member: #value)
    });

    let indices = 0..stored.len();
    let encode_arms = stored.iter().map(|f| {
        let member = f.ident;
        let storable = storable(f, &p);
        quote!(#storable::encode_with(&self.#member, __codec, __out))
    });
    let decode_arms = stored.iter().map(|f| {
        let member = f.ident;
        let storable = storable(f, &p);
        quote!({
            // `?` before assigning: on a decode error the field keeps its value.
            self.#member = #storable::decode_with(__codec, __bytes)?;
            #p::Ok(())
        })
    });
    let reset_arms = stored.iter().map(|f| {
        let member = f.ident;
        let value = default_value(f, &p);
        quote!(self.#member = #value)
    });
    let stable_arms = stored.iter().map(|f| {
        let ty = f.ty;
        // Autoref specialization: the probe's by-value method exists only for the field types
        // known to encode equal values alike; any other type finds the `false` one behind a
        // reference.
        quote!({
            use #p::{StableProbe as _, UnknownProbe as _};
            (&#p::EncodingProbe::<#ty>::new()).stable_encoding()
        })
    });
    let (i1, i2, i3, i4) = (indices.clone(), indices.clone(), indices.clone(), indices);
    let owner = stored.iter().position(|f| f.attrs.owner.is_some()).map(|index| {
        let member = stored[index].ident;
        let owner_key = owner_key(stored[index], &p);
        quote! {
            const OWNER: ::core::option::Option<usize> = ::core::option::Option::Some(#index);

            fn owner_key(&self) -> ::core::option::Option<#p::Vec<u8>> {
                #owner_key(&self.#member).map(|__key| __key.into_owned())
            }
        }
    });

    quote! {
        const _: () = {
            #[automatically_derived]
            impl #p::SessionData for #ident {
                const NAME: &'static str = #name;

                const FIELDS: &'static [#p::FieldSpec] = &[#(#specs),*];

                #owner

                fn fresh() -> Self {
                    Self { #(#inits),* }
                }

                fn encode_field<__SessionCodec: #p::Codec>(
                    &self,
                    __index: usize,
                    __codec: &__SessionCodec,
                    __out: &mut #p::Vec<u8>,
                ) -> #p::Result<(), #p::CodecError> {
                    match __index {
                        #(#i1 => #encode_arms,)*
                        _ => #p::Err(#p::no_such_field(#name, __index)),
                    }
                }

                fn decode_field<__SessionCodec: #p::Codec>(
                    &mut self,
                    __index: usize,
                    __codec: &__SessionCodec,
                    __bytes: &[u8],
                ) -> #p::Result<(), #p::CodecError> {
                    match __index {
                        #(#i2 => #decode_arms)*
                        _ => #p::Err(#p::no_such_field(#name, __index)),
                    }
                }

                fn reset_field(&mut self, __index: usize) {
                    match __index {
                        #(#i3 => #reset_arms,)*
                        // Out of range: nothing to reset, and a panic would take the request down.
                        _ => {}
                    }
                }

                fn stable_encoding(__index: usize) -> bool {
                    match __index {
                        #(#i4 => #stable_arms,)*
                        _ => false,
                    }
                }
            }
        };
    }
}

/// `<Type as Storable>`, spanned on the field type: a type that cannot be serialized is then
/// reported once, on the type, and the identical errors from encode and decode merge into it.
fn storable(f: &Field<'_>, p: &TokenStream) -> TokenStream {
    let ty = f.ty;
    quote_spanned!(ty.span()=> <#ty as #p::Storable>)
}

/// `<Type as OwnerKey>::owner_key`, spanned on the owner field's type: a type that cannot
/// name an owner is reported on the type, with `OwnerKey`'s message.
fn owner_key(f: &Field<'_>, p: &TokenStream) -> TokenStream {
    let ty = f.ty;
    quote_spanned!(ty.span()=> <#ty as #p::OwnerKey>::owner_key)
}

/// What a field holds when nothing is stored: `path()` spanned on the `default` literal (so
/// "cannot find function" points there), else `Default` spanned on the type.
fn default_value(f: &Field<'_>, p: &TokenStream) -> TokenStream {
    let ty = f.ty;
    match &f.attrs.default {
        Some(default) => {
            let path = &default.path;
            let call = quote_spanned!(default.lit.span()=> #path());
            // The same typed binding in `fresh` and `reset_field`, so a function returning the
            // wrong type gives two identical errors, which rustc reports once.
            quote!({
                let __value: #ty = #call;
                __value
            })
        }
        None if f.attrs.skip.is_some() => quote_spanned!(ty.span()=> <#ty as #p::SkipDefault>::skip_default()),
        None => quote_spanned!(ty.span()=> <#ty as #p::FieldDefault>::field_default()),
    }
}

/// The errors, plus an impl with the right signature and unreachable bodies so the rest of the
/// user's crate (extractors, engines of this type) type-checks instead of adding "trait not
/// implemented" errors. Fields found correct keep their type checks, so a missing `Serialize`
/// is reported in the same build as an attribute mistake.
fn fallback(input: &DeriveInput, cont: &Container<'_>, error: &syn::Error) -> TokenStream {
    let errors = error.to_compile_error();
    let krate = cont.krate();
    let p = quote!(#krate::__private);
    let ident = cont.ident;
    let name = &cont.name;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let mut predicates: Vec<TokenStream> =
        where_clause.iter().flat_map(|w| w.predicates.iter()).map(|p| quote!(#p)).collect();
    // The trait's supertraits, stated so a generic stub needs no bounds on its parameters.
    predicates.push(quote!(#ident #ty_generics: ::core::marker::Send + ::core::marker::Sync + 'static));

    let checks = cont.shape_ok.then(|| {
        let sound = cont.fields.iter().filter(|f| !f.faulty);
        let lets = sound.map(|f| {
            let ty = f.ty;
            let value = default_value(f, &p);
            let encodes = f.is_stored().then(|| {
                let storable = storable(f, &p);
                quote!(let _ = #storable::decode_with(__codec, &[]);)
            });
            let owns = f.attrs.owner.is_some().then(|| {
                let owner_key = owner_key(f, &p);
                quote!(let _ = #owner_key;)
            });
            quote!(let _: #ty = #value; #encodes #owns)
        });
        quote! {
            #[allow(dead_code, unreachable_code, unused_variables)]
            fn __session_field_checks<__SessionCodec: #p::Codec>(__codec: &__SessionCodec) {
                #(#lets)*
            }
        }
    });

    quote! {
        #errors
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #p::SessionData for #ident #ty_generics where #(#predicates),* {
                const NAME: &'static str = #name;
                const FIELDS: &'static [#p::FieldSpec] = &[];

                fn fresh() -> Self {
                    ::core::unreachable!()
                }

                fn encode_field<__SessionCodec: #p::Codec>(
                    &self,
                    _: usize,
                    _: &__SessionCodec,
                    _: &mut #p::Vec<u8>,
                ) -> #p::Result<(), #p::CodecError> {
                    ::core::unreachable!()
                }

                fn decode_field<__SessionCodec: #p::Codec>(
                    &mut self,
                    _: usize,
                    _: &__SessionCodec,
                    _: &[u8],
                ) -> #p::Result<(), #p::CodecError> {
                    ::core::unreachable!()
                }

                fn reset_field(&mut self, _: usize) {
                    ::core::unreachable!()
                }
            }

            #checks
        };
    }
}
