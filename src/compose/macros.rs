//! `join!` and `select!`, and the hidden helpers their expansions name.
//!
//! Both macros number their futures with a list of `_` tokens: the future with `k` tokens in
//! its list is tuple field `k`, reached with the pattern `(_, .., _, fut, ..)` (`k` `_`s).
//! That keeps them free of `unsafe` and of identifiers made up per future.

/// Polls several futures concurrently on the current task and gives a tuple of their
/// outputs once all have finished (asyncio's `gather` for a fixed set of awaitables of
/// different types).
///
/// Must be used inside an `async` block or function: the macro expands to an `.await`. Each
/// argument may be anything that implements `IntoFuture`; the arguments are evaluated in
/// order before any is polled. On each wake every unfinished future is polled, in argument
/// order; one polled after others spent the task's coop budget gets a fresh budget of its
/// own, so a future that is busy on every poll cannot starve the rest (a timer among them).
/// There is no limit on the number of futures other than the macro recursion limit.
///
/// ```
/// # weft::run(async {
/// let (n, s, unit) = weft::join!(async { 1 + 1 }, async { "two" }, async {});
/// assert_eq!((n, s, unit), (2, "two", ()));
/// # });
/// ```
#[macro_export]
macro_rules! join {
    // Expansion: the futures are numbered.
    (@ { ( $($count:tt)* ) $( ( $($skip:tt)* ) $fut:expr, )* }) => {{
        let __futures = ( $( ::core::pin::pin!(::core::future::IntoFuture::into_future($fut)), )* );
        let mut __states = ( $(
            $crate::compose::__private::MaybeDone::new({
                let ( $($skip,)* __future, .. ) = __futures;
                __future
            }),
        )* );
        ::core::future::poll_fn(|__cx| {
            let mut __all_done = true;
            $({
                let ( $($skip,)* __state, .. ) = &mut __states;
                __all_done &= __state.poll(__cx);
            })*
            if !__all_done {
                return ::core::task::Poll::Pending;
            }
            ::core::task::Poll::Ready(( $({
                let ( $($skip,)* __state, .. ) = &mut __states;
                __state.take_output()
            },)* ))
        })
        .await
    }};
    // Numbering: give the next future the current count, then count it.
    (@ { ( $($count:tt)* ) $($done:tt)* } $fut:expr, $($rest:tt)*) => {
        $crate::join!(@ { ( $($count)* _ ) $($done)* ( $($count)* ) $fut, } $($rest)*)
    };
    () => { () };
    ( $($fut:expr),+ $(,)? ) => {
        $crate::join!(@ { () } $($fut,)+)
    };
}

/// Waits on several futures at once and runs the handler of the first to finish; the others
/// are dropped (cancelled) before that handler runs. Like tokio's `select!`.
///
/// ```text
/// weft::select! {
///     <pattern> = <future> => <handler>,
///     ...
///     else => <handler>,      // optional, last
/// }
/// ```
///
/// Must be used inside `async` code. Each future (anything `IntoFuture`) is evaluated once,
/// in order, and pinned inside the macro. Branches are polled **in the order written**, on
/// every wake, so an earlier branch that is always ready starves later ones: put the one
/// that must win ties first. (One that is merely busy, spending the task's coop budget on
/// every poll without finishing, does not: the branches after it get a fresh budget.)
///
/// When a future finishes, its output is matched against the branch's pattern. If it
/// matches, every other future is dropped and the handler runs with the pattern's bindings;
/// the handler is ordinary code of the enclosing function, so `return`, `?` and `break` work.
/// If it does not match, that branch is disabled and the others keep running. When every
/// branch is disabled, the `else` handler runs, or the macro panics if there is none.
///
/// ```
/// # weft::run(async {
/// let winner = weft::select! {
///     v = std::future::pending::<u32>() => v,
///     v = async { 7 } => v * 6,
/// };
/// assert_eq!(winner, 42);
///
/// // A branch whose pattern does not match is disabled; `else` runs when none is left.
/// let none: Option<u32> = None;
/// let out = weft::select! {
///     Some(v) = async { none } => v,
///     else => 0,
/// };
/// assert_eq!(out, 0);
/// # });
/// ```
#[macro_export]
macro_rules! select {
    // ---- Expansion, once every branch is parsed. ----
    (@done
        { ( $($count:tt)* ) $( ( $($skip:tt)* ) [ $($bind:tt)* ] $fut:expr => $handler:tt, )* }
        else $else_handler:tt
    ) => {{
        let mut __futures = ( $(
            ::core::pin::pin!(::core::option::Option::Some(
                ::core::future::IntoFuture::into_future($fut)
            )),
        )* );
        let __output: ::core::option::Option<$crate::__select_output_type!($($count)*)> =
            ::core::future::poll_fn(|__cx| {
                let mut __any_pending = false;
                $({
                    let ( $($skip,)* __slot, .. ) = &mut __futures;
                    if let ::core::option::Option::Some(__future) = __slot.as_mut().as_pin_mut() {
                        match $crate::compose::__private::poll_fair(__future, __cx) {
                            ::core::task::Poll::Ready(__value) => {
                                // Finished: drop it now; its branch is over either way.
                                __slot.set(::core::option::Option::None);
                                #[allow(unused_variables, unreachable_patterns)]
                                match &__value {
                                    $crate::__select_clean_pattern!($($bind)*) => {
                                        return ::core::task::Poll::Ready(
                                            ::core::option::Option::Some(
                                                $crate::__select_variant!(( $($skip)* ) __value),
                                            ),
                                        );
                                    }
                                    _ => {}
                                }
                            }
                            ::core::task::Poll::Pending => __any_pending = true,
                        }
                    }
                })*
                if __any_pending {
                    ::core::task::Poll::Pending
                } else {
                    ::core::task::Poll::Ready(::core::option::Option::None)
                }
            })
            .await;
        // The losers are dropped before any handler runs.
        $({
            let ( $($skip,)* __slot, .. ) = &mut __futures;
            __slot.set(::core::option::Option::None);
        })*
        match __output {
            $(
                ::core::option::Option::Some(
                    $crate::__select_variant!(( $($skip)* ) $($bind)*)
                ) => $handler,
            )*
            ::core::option::Option::None => $else_handler,
            #[allow(unreachable_patterns)]
            _ => ::core::unreachable!("weft::select!: the branch's pattern was checked"),
        }
    }};

    // ---- Parsing, one branch at a time. State: `{ (count) branches.. }`. ----
    // The optional `else` branch, last.
    (@ { $($state:tt)* } else => $handler:expr $(,)?) => {
        $crate::select!(@done { $($state)* } else { $handler })
    };
    // All branches parsed, no `else`.
    (@ { $($state:tt)* }) => {
        $crate::select!(@done { $($state)* } else {
            ::core::panic!("weft::select!: all branches are disabled and there is no `else` branch")
        })
    };
    // A branch: gather the pattern's tokens up to the `=`.
    (@ { $($state:tt)* } $($rest:tt)+) => {
        $crate::select!(@pattern { $($state)* } [] $($rest)+)
    };
    (@pattern { $($state:tt)* } [ $($bind:tt)* ] = $($rest:tt)*) => {
        $crate::select!(@future { $($state)* } [ $($bind)* ] $($rest)*)
    };
    (@pattern { $($state:tt)* } [ $($bind:tt)* ] $next:tt $($rest:tt)*) => {
        $crate::select!(@pattern { $($state)* } [ $($bind)* $next ] $($rest)*)
    };
    (@pattern { $($state:tt)* } [ $($bind:tt)* ]) => {
        ::core::compile_error!("weft::select!: expected `<pattern> = <future> => <handler>,`")
    };
    // The future and the handler: a block (comma optional) or an expression (comma needed
    // unless it is the last branch).
    (@future { $($state:tt)* } [ $($bind:tt)* ] $fut:expr => $handler:block, $($rest:tt)*) => {
        $crate::select!(@push { $($state)* } [ $($bind)* ] $fut => { $handler } $($rest)*)
    };
    (@future { $($state:tt)* } [ $($bind:tt)* ] $fut:expr => $handler:block $($rest:tt)*) => {
        $crate::select!(@push { $($state)* } [ $($bind)* ] $fut => { $handler } $($rest)*)
    };
    (@future { $($state:tt)* } [ $($bind:tt)* ] $fut:expr => $handler:expr, $($rest:tt)*) => {
        $crate::select!(@push { $($state)* } [ $($bind)* ] $fut => { $handler } $($rest)*)
    };
    (@future { $($state:tt)* } [ $($bind:tt)* ] $fut:expr => $handler:expr) => {
        $crate::select!(@push { $($state)* } [ $($bind)* ] $fut => { $handler })
    };
    // Number the parsed branch and add it to the state.
    (@push { ( $($count:tt)* ) $($branches:tt)* } [ $($bind:tt)* ]
        $fut:expr => $handler:tt $($rest:tt)*) => {
        $crate::select!(@ {
            ( $($count)* _ ) $($branches)* ( $($count)* ) [ $($bind)* ] $fut => $handler,
        } $($rest)*)
    };

    // ---- Entry. ----
    () => {
        ::core::compile_error!("weft::select! needs at least one branch")
    };
    ( $($branches:tt)+ ) => {
        $crate::select!(@ { () } $($branches)+)
    };
}

/// `select!`'s output type for `n` branches (`n` `_` tokens): `Either<_, Either<_, .. Never>>`.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_output_type {
    () => { $crate::compose::__private::Never };
    (_ $($rest:tt)*) => {
        $crate::compose::__private::Either<_, $crate::__select_output_type!($($rest)*)>
    };
}

/// `select!`'s output for the branch with `k` `_` tokens: `Right(.. Right(Left(x)))` with `k`
/// `Right`s. Works as an expression and as a pattern.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_variant {
    (() $($inner:tt)*) => {
        $crate::compose::__private::Either::Left($($inner)*)
    };
    ((_ $($skip:tt)*) $($inner:tt)*) => {
        $crate::compose::__private::Either::Right($crate::__select_variant!(($($skip)*) $($inner)*))
    };
}

/// A branch's pattern with every `mut` and `ref` removed, so it can be matched against a
/// reference to the output (to decide whether the branch wins) without moving out of it.
///
/// Munches tokens into an accumulator `[acc]`; entering a delimited group pushes the outer
/// accumulator and the tokens after the group onto a stack `[stack]`, leaving it pops them.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_clean_pattern {
    // Done.
    (@ [ $($acc:tt)* ] []) => { $($acc)* };
    // Leave a group.
    (@ [ $($acc:tt)* ] [ (paren [ $($outer:tt)* ] [ $($after:tt)* ]) $($stack:tt)* ]) => {
        $crate::__select_clean_pattern!(@ [ $($outer)* ( $($acc)* ) ] [ $($stack)* ] $($after)*)
    };
    (@ [ $($acc:tt)* ] [ (bracket [ $($outer:tt)* ] [ $($after:tt)* ]) $($stack:tt)* ]) => {
        $crate::__select_clean_pattern!(@ [ $($outer)* [ $($acc)* ] ] [ $($stack)* ] $($after)*)
    };
    (@ [ $($acc:tt)* ] [ (brace [ $($outer:tt)* ] [ $($after:tt)* ]) $($stack:tt)* ]) => {
        $crate::__select_clean_pattern!(@ [ $($outer)* { $($acc)* } ] [ $($stack)* ] $($after)*)
    };
    // Drop binding modes.
    (@ [ $($acc:tt)* ] [ $($stack:tt)* ] mut $($rest:tt)*) => {
        $crate::__select_clean_pattern!(@ [ $($acc)* ] [ $($stack)* ] $($rest)*)
    };
    (@ [ $($acc:tt)* ] [ $($stack:tt)* ] ref $($rest:tt)*) => {
        $crate::__select_clean_pattern!(@ [ $($acc)* ] [ $($stack)* ] $($rest)*)
    };
    // Enter a group.
    (@ [ $($acc:tt)* ] [ $($stack:tt)* ] ( $($inner:tt)* ) $($rest:tt)*) => {
        $crate::__select_clean_pattern!(
            @ [] [ (paren [ $($acc)* ] [ $($rest)* ]) $($stack)* ] $($inner)*
        )
    };
    (@ [ $($acc:tt)* ] [ $($stack:tt)* ] [ $($inner:tt)* ] $($rest:tt)*) => {
        $crate::__select_clean_pattern!(
            @ [] [ (bracket [ $($acc)* ] [ $($rest)* ]) $($stack)* ] $($inner)*
        )
    };
    (@ [ $($acc:tt)* ] [ $($stack:tt)* ] { $($inner:tt)* } $($rest:tt)*) => {
        $crate::__select_clean_pattern!(
            @ [] [ (brace [ $($acc)* ] [ $($rest)* ]) $($stack)* ] $($inner)*
        )
    };
    // Any other token.
    (@ [ $($acc:tt)* ] [ $($stack:tt)* ] $next:tt $($rest:tt)*) => {
        $crate::__select_clean_pattern!(@ [ $($acc)* $next ] [ $($stack)* ] $($rest)*)
    };
    // Entry.
    ($($pattern:tt)*) => {
        $crate::__select_clean_pattern!(@ [] [] $($pattern)*)
    };
}
