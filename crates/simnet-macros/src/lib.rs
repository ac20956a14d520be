//! `#[simnet::test]`: a test over seeds, as `#[tokio::test]` is a test on a runtime.
//!
//! ```ignore
//! #[simnet::test(seeds = 0..20)]
//! fn survives_loss(seed: u64) -> anyhow::Result<()> { ... }
//!
//! #[simnet::test(seeds = 0..50, plans = fault_space())]
//! fn survives_faults(seed: u64, plan: &[simnet::PlanFault]) -> anyhow::Result<()> { ... }
//! ```
//!
//! The function runs once per seed (`SIMNET_SEED` / `SIMNET_SEEDS` choose others;
//! with `plans`, each seed draws a random fault plan and a failing one is shrunk,
//! `SIMNET_PLAN` replaying a shrunk plan; `check_determinism = true` runs each seed
//! twice and fails it where the runs differ). It may return `()` (failing by panicking)
//! or a `Result` whose error says why. A failure names the test in its rerun
//! command whatever thread runs it.

use proc_macro::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, ItemFn, Token, parse_macro_input};

/// The attribute's arguments: `seeds = RANGE` and, optionally, `plans = SPACE`.
struct Args {
    seeds: Expr,
    plans: Option<Expr>,
    check_determinism: Option<Expr>,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let pairs = Punctuated::<syn::MetaNameValue, Token![,]>::parse_terminated(input)?;
        let (mut seeds, mut plans, mut check_determinism) = (None, None, None);
        for pair in pairs {
            let name = pair.path.get_ident().map(|i| i.to_string());
            match name.as_deref() {
                Some("seeds") => seeds = Some(pair.value),
                Some("plans") => plans = Some(pair.value),
                Some("check_determinism") => check_determinism = Some(pair.value),
                _ => {
                    return Err(syn::Error::new_spanned(
                        pair.path,
                        "expected `seeds = A..B`, `plans = FAULT_SPACE` or \
                         `check_determinism = true`",
                    ));
                }
            }
        }
        let seeds = seeds.ok_or_else(|| {
            syn::Error::new(input.span(), "give the seeds to run: `seeds = 0..20`")
        })?;
        Ok(Args {
            seeds,
            plans,
            check_determinism,
        })
    }
}

/// A test run once per seed: see the crate's documentation.
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = parse_macro_input!(attr as Args);
    let function = parse_macro_input!(item as ItemFn);
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    // A seed's run is one synchronous call; a generic test has no one instance to run.
    if let Some(token) = &sig.asyncness {
        return syn::Error::new_spanned(
            token,
            "a #[simnet::test] function runs synchronously: the simulation drives the \
             guests itself, so the function need not be async",
        )
        .to_compile_error()
        .into();
    }
    if !sig.generics.params.is_empty() {
        return syn::Error::new_spanned(
            &sig.generics,
            "a #[simnet::test] function takes no generic parameters",
        )
        .to_compile_error()
        .into();
    }
    let name = &sig.ident;
    let name_text = name.to_string();
    let inputs = &sig.inputs;
    let output = &sig.output;
    let seeds = &args.seeds;
    let check = match &args.check_determinism {
        Some(on) => quote! { let __seeds = __seeds.check_determinism(#on); },
        None => quote! {},
    };
    let call = match &args.plans {
        None => quote! {
            __seeds.run_as(&__test, |seed| {
                ::simnet::seeds::TestResult::into_result(__body(seed))
            })
        },
        Some(space) => quote! {
            __seeds.check_plans_as(&__test, &#space, |seed, plan| {
                ::simnet::seeds::TestResult::into_result(__body(seed, plan))
            })
        },
    };
    quote! {
        #[test]
        #(#attrs)*
        #vis fn #name() {
            fn __body(#inputs) #output #block
            let __test = ::simnet::TestName::named(file!(), module_path!(), #name_text);
            let __seeds = ::simnet::Seeds::from_env(#seeds).unwrap_or_else(|e| panic!("{e}"));
            #check
            #call
        }
    }
    .into()
}
