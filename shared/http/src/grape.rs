//! Grape's parameter declarations: an endpoint declares its parameters the way its
//! `params do ... end` block does, and every failure is collected into Grape's one 400,
//! `{"error":"a is missing, b is invalid"}`, in declaration order.
//!
//! ```text
//! params do                                    let mut declared = Declared::new(&params);
//!   requires :agent_id, type: Integer          let agent_id = declared.requires("agent_id", Integer);
//!   requires :agent_config, type: Hash         let config = declared.requires("agent_config", Hash);
//!   optional :stats, type: Hash do             declared.optional_hash("stats", Hash, |stats| {
//!     optional :wants, type: Integer               stats.optional("wants", Integer)
//!   end                                        });
//! end                                          let (agent_id, config) = declared.finish((agent_id, config))?;
//! ```
//!
//! * [`Declared::requires`] answers a [`Required`] handle, opened only by [`Declared::finish`]
//!   once nothing failed; [`Declared::optional`] answers an `Option` right away (`None`: absent,
//!   or failed and recorded). A parameter is absent when it is not there or is `null`, as
//!   [`Params::get`] reads it.
//! * Each parameter fails at most once, with the first of, in Grape's order: `is missing`
//!   (`requires` of an absent one), `is empty` (`allow_blank: false`), `is invalid` (the type's
//!   coercion), `does not have a valid value` (`values:`; a value that does not coerce at all
//!   is also not among the values, so it gets this message too, as the endpoints here have
//!   always answered).
//! * Nested declarations (`type: Hash do ... end`, `type: Array do ... end`) run in a block
//!   and are named with brackets: `counters[k8s_api_proxy_request]`,
//!   `vulnerability[location][image]`, `events[register_agent_at_kas][0][project_id]` (Grape
//!   names an array's members by their index). A block is only declared when its parameter is
//!   there and opens as the block's type.
//! * Grape's `given` is a plain `if` on a handle's [`Required::peek`]; Grape's `default:` is
//!   [`Declared::optional_or`].

use chrono::NaiveDate;
use gl_model::ruby::parse_date;
use serde_json::{Map, Value};

use crate::{ApiError, Params};

/// Why a parameter failed, in Grape's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// `requires` of an absent parameter.
    Missing,
    /// `allow_blank: false` of a blank one.
    Empty,
    /// The type's coercion failed.
    Invalid,
    /// Not one of the declared `values:`.
    NotAValue,
    /// `length: { max: }` of a longer array.
    TooLong(usize),
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing => f.write_str("is missing"),
            Self::Empty => f.write_str("is empty"),
            Self::Invalid => f.write_str("is invalid"),
            Self::NotAValue => f.write_str("does not have a valid value"),
            Self::TooLong(max) => {
                write!(f, "is expected to have length less than or equal to {max}")
            }
        }
    }
}

/// The most failures one 400 names. Grape names every one, and an array of blocks can fail
/// once per element: a body of 130 KB would answer more than Lambda's 6 MB. The first ones,
/// in declaration order, are what a client can act on.
pub const MAX_ERRORS: usize = 100;

/// A declared parameter's type: Grape's `type:` with the options that refine it.
pub trait Type {
    type Output;

    /// The value coerced as Grape coerces this type, or why it is refused.
    fn coerce(&self, value: &Value) -> Result<Self::Output, Reason>;

    /// Whether the value counts as not given: `requires` answers `is missing` and `optional`
    /// skips it. Grape's rule here is a `null` (the parameter not being there at all is handled
    /// before a type is asked).
    fn is_absent(&self, value: &Value) -> bool {
        value.is_null()
    }

    /// `values: [...]`: the coerced value must be one of `allowed`; otherwise, and when it
    /// does not coerce, `does not have a valid value`.
    fn values<'a, V>(self, allowed: &'a [V]) -> Values<'a, Self, V>
    where
        Self: Sized,
        Self::Output: PartialEq<V>,
    {
        Values { ty: self, allowed }
    }

    /// `allow_blank: false`: a string of nothing but whitespace (Ruby's `blank?` on strings)
    /// is `is empty`, checked before coercion as Grape does (so `""` for an Integer is empty,
    /// not invalid). Other JSON values are never blank here.
    fn not_blank(self) -> NotBlank<Self>
    where
        Self: Sized,
    {
        NotBlank(self)
    }

    /// `length: { max: }` on an array: a longer one is refused before any element is looked
    /// at, so the work a request can ask for is bounded (Grape coerces first; a too-long
    /// array of invalid elements is named too long here, not invalid).
    fn at_most(self, max: usize) -> AtMost<Self>
    where
        Self: Sized,
    {
        AtMost { ty: self, max }
    }

    /// `coerce_with:` a function applied to the coerced value, such as a `downcase` before a
    /// `values:` check.
    fn coerce_with<F>(self, f: F) -> CoerceWith<Self, F>
    where
        Self: Sized,
        F: Fn(Self::Output) -> Self::Output,
    {
        CoerceWith { ty: self, f }
    }
}

/// A type whose value opens as a block of nested declarations (`type: Hash do ... end`).
pub trait Members: Type {
    /// The members to declare in the block: `Ok(None)` when the value has none (every
    /// member is then absent), or why the value is refused.
    fn members<'v>(&self, value: &'v Value) -> Result<Option<&'v Map<String, Value>>, Reason>;
}

/// A type whose value opens as an array of blocks (`type: Array do ... end`).
pub trait Elements: Type {
    type Element: Members;

    /// The elements, each declared in the block, or why the value is refused.
    fn elements<'v>(&self, value: &'v Value) -> Result<&'v [Value], Reason>;

    fn element(&self) -> &Self::Element;

    /// Whether the elements' declarations are named with their index (`key[0][member]`) or
    /// without (`key[member]`).
    fn indexed(&self) -> bool {
        true
    }
}

/// Grape's `Integer`: a JSON integer, or a string holding one (surrounding whitespace
/// ignored, as Ruby's `Integer()` does). Floats, even whole ones, are invalid.
#[derive(Debug, Clone, Copy)]
pub struct Integer;

impl Type for Integer {
    type Output = i64;

    fn coerce(&self, value: &Value) -> Result<i64, Reason> {
        value
            .as_i64()
            .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
            .ok_or(Reason::Invalid)
    }
}

/// Grape's `String`: a JSON string, or a number as its JSON text. Booleans, arrays and
/// objects are invalid.
#[derive(Debug, Clone, Copy)]
pub struct Text;

impl Type for Text {
    type Output = String;

    fn coerce(&self, value: &Value) -> Result<String, Reason> {
        match value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(Reason::Invalid),
        }
    }
}

/// A JSON string and nothing else: unlike [`Text`], a number is invalid (the rule of
/// `authorize_proxy_user`'s `csrf_token` and Starboard's `uuids`).
#[derive(Debug, Clone, Copy)]
pub struct JsonString;

impl Type for JsonString {
    type Output = String;

    fn coerce(&self, value: &Value) -> Result<String, Reason> {
        value.as_str().map(str::to_owned).ok_or(Reason::Invalid)
    }
}

/// Grape's `Boolean` (dry-types' `Params::Bool`): the value's text must be one of
/// `1 on On ON t true True TRUE T y yes Yes YES Y` (true) or
/// `0 off Off OFF f false False FALSE F n no No NO N` (false). JSON `true`/`false` and the
/// numbers `1`/`0` qualify by their text; anything else is invalid.
#[derive(Debug, Clone, Copy)]
pub struct Boolean;

const TRUE_VALUES: &[&str] = &[
    "1", "on", "On", "ON", "t", "true", "True", "TRUE", "T", "y", "yes", "Yes", "YES", "Y",
];
const FALSE_VALUES: &[&str] = &[
    "0", "off", "Off", "OFF", "f", "false", "False", "FALSE", "F", "n", "no", "No", "NO", "N",
];

impl Type for Boolean {
    type Output = bool;

    fn coerce(&self, value: &Value) -> Result<bool, Reason> {
        let text = match value {
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => return Err(Reason::Invalid),
        };
        if TRUE_VALUES.contains(&text.as_str()) {
            Ok(true)
        } else if FALSE_VALUES.contains(&text.as_str()) {
            Ok(false)
        } else {
            Err(Reason::Invalid)
        }
    }
}

/// Grape's `Date` (Ruby's `Date.parse` of a string): see [`gl_model::ruby::parse_date`] for the forms read.
/// Anything but a string, and a date that does not exist, is invalid.
#[derive(Debug, Clone, Copy)]
pub struct Date;

impl Type for Date {
    type Output = NaiveDate;

    fn coerce(&self, value: &Value) -> Result<NaiveDate, Reason> {
        value.as_str().and_then(parse_date).ok_or(Reason::Invalid)
    }
}

/// Grape's `Hash`: a JSON object. As a block, every other value is invalid.
#[derive(Debug, Clone, Copy)]
pub struct Hash;

impl Type for Hash {
    type Output = Map<String, Value>;

    fn coerce(&self, value: &Value) -> Result<Self::Output, Reason> {
        value.as_object().cloned().ok_or(Reason::Invalid)
    }
}

impl Members for Hash {
    fn members<'v>(&self, value: &'v Value) -> Result<Option<&'v Map<String, Value>>, Reason> {
        value.as_object().map(Some).ok_or(Reason::Invalid)
    }
}

/// Grape's `Array[T]`: a JSON array whose every element coerces as `T`; one element that
/// does not makes the whole parameter invalid (named without the element's index, as Grape
/// does for a typed array). As an array of blocks (`Array(Hash)`), a value that is not an
/// array is invalid, and so is each element that does not open as `T`'s block (named with
/// its index).
#[derive(Debug, Clone, Copy)]
pub struct Array<T>(pub T);

impl<T: Type> Type for Array<T> {
    type Output = Vec<T::Output>;

    fn coerce(&self, value: &Value) -> Result<Self::Output, Reason> {
        value
            .as_array()
            .ok_or(Reason::Invalid)?
            .iter()
            .map(|element| self.0.coerce(element).map_err(|_| Reason::Invalid))
            .collect()
    }
}

impl<T: Members> Elements for Array<T> {
    type Element = T;

    fn elements<'v>(&self, value: &'v Value) -> Result<&'v [Value], Reason> {
        value.as_array().map(Vec::as_slice).ok_or(Reason::Invalid)
    }

    fn element(&self) -> &T {
        &self.0
    }
}

/// Grape's `Array[JSON]`: a JSON array of objects, or one object standing for an array of
/// it (Grape's JSON coercion). Its members are named without an index, as GitLab's own
/// specs of such parameters show (`upcoming_reconciliations[namespace_id] is empty`); an
/// element that is no object is invalid, named the same way.
#[derive(Debug, Clone, Copy)]
pub struct JsonArray;

impl Type for JsonArray {
    type Output = Vec<Map<String, Value>>;

    fn coerce(&self, value: &Value) -> Result<Self::Output, Reason> {
        self.elements(value)?
            .iter()
            .map(|element| element.as_object().cloned().ok_or(Reason::Invalid))
            .collect()
    }
}

impl Elements for JsonArray {
    type Element = Hash;

    fn elements<'v>(&self, value: &'v Value) -> Result<&'v [Value], Reason> {
        match value {
            Value::Array(elements) => Ok(elements),
            Value::Object(_) => Ok(std::slice::from_ref(value)),
            _ => Err(Reason::Invalid),
        }
    }

    fn element(&self) -> &Hash {
        &Hash
    }

    fn indexed(&self) -> bool {
        false
    }
}

/// An untyped parameter (Grape's `requires :name` without `type:`): any value. As a block,
/// a value that is not an object has no members, and as an array of blocks, a value that is
/// not an array has no elements: nothing is invalid, and the block's own `requires` report
/// what is missing.
#[derive(Debug, Clone, Copy)]
pub struct Any;

impl Type for Any {
    type Output = Value;

    fn coerce(&self, value: &Value) -> Result<Value, Reason> {
        Ok(value.clone())
    }
}

impl Members for Any {
    fn members<'v>(&self, value: &'v Value) -> Result<Option<&'v Map<String, Value>>, Reason> {
        Ok(value.as_object())
    }
}

impl Elements for Any {
    type Element = Any;

    fn elements<'v>(&self, value: &'v Value) -> Result<&'v [Value], Reason> {
        Ok(value.as_array().map(Vec::as_slice).unwrap_or_default())
    }

    fn element(&self) -> &Any {
        self
    }
}

/// `T`, where an empty string counts as not given too (`requires` answers `is missing`):
/// the presence rule of the Starboard endpoints.
#[derive(Debug, Clone, Copy)]
pub struct Present<T>(pub T);

impl<T: Type> Type for Present<T> {
    type Output = T::Output;

    fn coerce(&self, value: &Value) -> Result<T::Output, Reason> {
        self.0.coerce(value)
    }

    fn is_absent(&self, value: &Value) -> bool {
        value.as_str() == Some("") || self.0.is_absent(value)
    }
}

impl<T: Members> Members for Present<T> {
    fn members<'v>(&self, value: &'v Value) -> Result<Option<&'v Map<String, Value>>, Reason> {
        self.0.members(value)
    }
}

impl<T: Elements> Elements for Present<T> {
    type Element = T::Element;

    fn elements<'v>(&self, value: &'v Value) -> Result<&'v [Value], Reason> {
        self.0.elements(value)
    }

    fn element(&self) -> &T::Element {
        self.0.element()
    }
}

/// See [`Type::at_most`].
#[derive(Debug, Clone, Copy)]
pub struct AtMost<T> {
    ty: T,
    max: usize,
}

impl<T> AtMost<T> {
    fn check(&self, value: &Value) -> Result<(), Reason> {
        match value.as_array() {
            Some(elements) if elements.len() > self.max => Err(Reason::TooLong(self.max)),
            _ => Ok(()),
        }
    }
}

impl<T: Type> Type for AtMost<T> {
    type Output = T::Output;

    fn coerce(&self, value: &Value) -> Result<T::Output, Reason> {
        self.check(value)?;
        self.ty.coerce(value)
    }

    fn is_absent(&self, value: &Value) -> bool {
        self.ty.is_absent(value)
    }
}

impl<T: Elements> Elements for AtMost<T> {
    type Element = T::Element;

    fn elements<'v>(&self, value: &'v Value) -> Result<&'v [Value], Reason> {
        self.check(value)?;
        self.ty.elements(value)
    }

    fn element(&self) -> &T::Element {
        self.ty.element()
    }

    fn indexed(&self) -> bool {
        self.ty.indexed()
    }
}

/// See [`Type::values`].
#[derive(Debug, Clone, Copy)]
pub struct Values<'a, T, V> {
    ty: T,
    allowed: &'a [V],
}

impl<T: Type, V> Type for Values<'_, T, V>
where
    T::Output: PartialEq<V>,
{
    type Output = T::Output;

    fn coerce(&self, value: &Value) -> Result<T::Output, Reason> {
        match self.ty.coerce(value) {
            Ok(coerced) if self.allowed.iter().any(|allowed| coerced == *allowed) => Ok(coerced),
            Ok(_) | Err(Reason::Invalid) => Err(Reason::NotAValue),
            Err(other) => Err(other),
        }
    }

    fn is_absent(&self, value: &Value) -> bool {
        self.ty.is_absent(value)
    }
}

/// See [`Type::not_blank`].
#[derive(Debug, Clone, Copy)]
pub struct NotBlank<T>(T);

impl<T: Type> Type for NotBlank<T> {
    type Output = T::Output;

    fn coerce(&self, value: &Value) -> Result<T::Output, Reason> {
        match value {
            Value::String(s) if s.trim().is_empty() => Err(Reason::Empty),
            _ => self.0.coerce(value),
        }
    }

    fn is_absent(&self, value: &Value) -> bool {
        self.0.is_absent(value)
    }
}

/// See [`Type::coerce_with`].
#[derive(Debug, Clone, Copy)]
pub struct CoerceWith<T, F> {
    ty: T,
    f: F,
}

impl<T: Type, F: Fn(T::Output) -> T::Output> Type for CoerceWith<T, F> {
    type Output = T::Output;

    fn coerce(&self, value: &Value) -> Result<T::Output, Reason> {
        self.ty.coerce(value).map(&self.f)
    }

    fn is_absent(&self, value: &Value) -> bool {
        self.ty.is_absent(value)
    }
}

/// A `requires` parameter's value, opened by [`Declared::finish`] once nothing failed. It is
/// empty only when its own failure was recorded, so a finished declaration always has it.
#[derive(Debug)]
pub struct Required<T>(Option<T>);

impl<T> Required<T> {
    /// The value, if it was declared without failing: for Grape's `given`, which declares
    /// more parameters depending on an earlier one.
    pub fn peek(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

impl<R: Resolve> Required<R> {
    /// The value of a block that declared required values of its own (a [`Required`] or a
    /// tuple of them, returned by the block): present when the block and all of those are.
    pub fn flatten(self) -> Required<R::Values> {
        Required(self.0.and_then(Resolve::resolve))
    }
}

/// What [`Declared::finish`] opens: a [`Required`], `()`, or a tuple of them.
pub trait Resolve {
    type Values;

    fn resolve(self) -> Option<Self::Values>;
}

impl Resolve for () {
    type Values = ();

    fn resolve(self) -> Option<()> {
        Some(())
    }
}

impl<T> Resolve for Required<T> {
    type Values = T;

    fn resolve(self) -> Option<T> {
        self.0
    }
}

/// The values of an array's blocks: present when every element's are.
impl<R: Resolve> Resolve for Vec<R> {
    type Values = Vec<R::Values>;

    fn resolve(self) -> Option<Self::Values> {
        self.into_iter().map(Resolve::resolve).collect()
    }
}

macro_rules! resolve_tuple {
    ($($name:ident),+) => {
        impl<$($name: Resolve),+> Resolve for ($($name,)+) {
            type Values = ($($name::Values,)+);

            #[allow(non_snake_case)]
            fn resolve(self) -> Option<Self::Values> {
                let ($($name,)+) = self;
                Some(($($name.resolve()?,)+))
            }
        }
    };
}

resolve_tuple!(A);
resolve_tuple!(A, B);
resolve_tuple!(A, B, C);
resolve_tuple!(A, B, C, D);
resolve_tuple!(A, B, C, D, E);
resolve_tuple!(A, B, C, D, E, F);
resolve_tuple!(A, B, C, D, E, F, G);
resolve_tuple!(A, B, C, D, E, F, G, H);

static NULL: Value = Value::Null;

/// One scope of declarations: the endpoint's parameters, or the members of a block.
#[derive(Debug)]
pub struct Declared<'p> {
    members: Option<&'p Map<String, Value>>,
    value: &'p Value,
    /// The block's bracketed name; `None` at the root.
    path: Option<String>,
    errors: Vec<String>,
}

impl<'p> Declared<'p> {
    /// The declarations of an endpoint's parameters (query, form or JSON body, merged).
    pub fn new(params: &'p Params) -> Self {
        Self {
            members: Some(&params.0),
            value: &NULL,
            path: None,
            errors: Vec::new(),
        }
    }

    /// The value whose members this block declares (`null` at the root).
    pub fn value(&self) -> &'p Value {
        self.value
    }

    fn name(&self, key: &str) -> String {
        match &self.path {
            None => key.to_owned(),
            Some(path) => format!("{path}[{key}]"),
        }
    }

    fn fail(&mut self, name: &str, reason: Reason) {
        self.record(format!("{name} {reason}"));
    }

    /// Keeps a failure unless it repeats one already kept (`ValidationErrors#full_messages`
    /// drops repeats, which unindexed array members make) or [`MAX_ERRORS`] are kept.
    fn record(&mut self, error: String) {
        if self.errors.len() < MAX_ERRORS && !self.errors.contains(&error) {
            self.errors.push(error);
        }
    }

    /// The parameter's value, `None` when it is absent by `ty`'s rule.
    fn given(&self, key: &str, ty: &impl Type) -> Option<&'p Value> {
        self.members?.get(key).filter(|value| !ty.is_absent(value))
    }

    fn coerce<T: Type>(&mut self, key: &str, value: &Value, ty: &T) -> Option<T::Output> {
        match ty.coerce(value) {
            Ok(coerced) => Some(coerced),
            Err(reason) => {
                let name = self.name(key);
                self.fail(&name, reason);
                None
            }
        }
    }

    /// `requires :key, type: T`.
    pub fn requires<T: Type>(&mut self, key: &str, ty: T) -> Required<T::Output> {
        match self.given(key, &ty) {
            None => {
                let name = self.name(key);
                self.fail(&name, Reason::Missing);
                Required(None)
            }
            Some(value) => Required(self.coerce(key, value, &ty)),
        }
    }

    /// `optional :key, type: T`: `None` when absent, or when it failed (recorded).
    pub fn optional<T: Type>(&mut self, key: &str, ty: T) -> Option<T::Output> {
        let value = self.given(key, &ty)?;
        self.coerce(key, value, &ty)
    }

    /// `optional :key, type: T, default: default`.
    pub fn optional_or<T: Type>(&mut self, key: &str, ty: T, default: T::Output) -> T::Output {
        self.optional(key, ty).unwrap_or(default)
    }

    /// Runs `block` on the members of the parameter `key`, which is there and opens as
    /// `ty`'s block; `None` otherwise (a failure, `ty` refusing the value, is recorded).
    fn block<T: Members, R>(
        &mut self,
        key: &str,
        value: &'p Value,
        ty: &T,
        block: impl FnOnce(&mut Declared<'p>) -> R,
    ) -> Option<R> {
        let name = self.name(key);
        match ty.members(value) {
            Err(reason) => {
                self.fail(&name, reason);
                None
            }
            Ok(members) => Some(self.nested(name, members, value, block)),
        }
    }

    fn nested<R>(
        &mut self,
        path: String,
        members: Option<&'p Map<String, Value>>,
        value: &'p Value,
        block: impl FnOnce(&mut Declared<'p>) -> R,
    ) -> R {
        let mut scope = Declared {
            members,
            value,
            path: Some(path),
            errors: Vec::new(),
        };
        let result = block(&mut scope);
        for error in scope.errors {
            self.record(error);
        }
        result
    }

    /// `requires :key, type: Hash do ... end`: the block's declarations are named
    /// `key[member]`, and only run when `key` is there and opens as `ty` ([`Hash`]: an
    /// object). Answers what the block returns.
    pub fn requires_hash<T: Members, R>(
        &mut self,
        key: &str,
        ty: T,
        block: impl FnOnce(&mut Declared<'p>) -> R,
    ) -> Required<R> {
        match self.given(key, &ty) {
            None => {
                let name = self.name(key);
                self.fail(&name, Reason::Missing);
                Required(None)
            }
            Some(value) => Required(self.block(key, value, &ty, block)),
        }
    }

    /// `optional :key, type: Hash do ... end`.
    pub fn optional_hash<T: Members, R>(
        &mut self,
        key: &str,
        ty: T,
        block: impl FnOnce(&mut Declared<'p>) -> R,
    ) -> Option<R> {
        let value = self.given(key, &ty)?;
        self.block(key, value, &ty, block)
    }

    fn each<T: Elements, R>(
        &mut self,
        key: &str,
        value: &'p Value,
        ty: &T,
        mut block: impl FnMut(&mut Declared<'p>) -> R,
    ) -> Option<Vec<R>> {
        let name = self.name(key);
        let elements = match ty.elements(value) {
            Ok(elements) => elements,
            Err(reason) => {
                self.fail(&name, reason);
                return None;
            }
        };
        let mut results = Vec::with_capacity(elements.len());
        for (index, element) in elements.iter().enumerate() {
            if self.errors.len() == MAX_ERRORS {
                // Nothing more can be named: the answer is this 400 whatever follows.
                break;
            }
            let path = if ty.indexed() {
                format!("{name}[{index}]")
            } else {
                name.clone()
            };
            match ty.element().members(element) {
                Ok(members) => results.push(self.nested(path, members, element, &mut block)),
                Err(reason) => self.fail(&path, reason),
            }
        }
        Some(results)
    }

    /// `requires :key, type: Array do ... end` (or `type: Array[JSON]`): the block runs on
    /// each element, its declarations named `key[index][member]`. Answers what the block
    /// returned for each element that opened as a block.
    pub fn requires_array<T: Elements, R>(
        &mut self,
        key: &str,
        ty: T,
        block: impl FnMut(&mut Declared<'p>) -> R,
    ) -> Required<Vec<R>> {
        match self.given(key, &ty) {
            None => {
                let name = self.name(key);
                self.fail(&name, Reason::Missing);
                Required(None)
            }
            Some(value) => Required(self.each(key, value, &ty, block)),
        }
    }

    /// `optional :key, type: Array do ... end`.
    pub fn optional_array<T: Elements, R>(
        &mut self,
        key: &str,
        ty: T,
        block: impl FnMut(&mut Declared<'p>) -> R,
    ) -> Option<Vec<R>> {
        let value = self.given(key, &ty)?;
        self.each(key, value, &ty, block)
    }

    /// The end of the `params` block: the values of `required` (a [`Required`], `()` or a
    /// tuple of them) when nothing failed, or Grape's one 400 naming the failures in
    /// declaration order, each message once, at most [`MAX_ERRORS`] of them.
    pub fn finish<R: Resolve>(self, required: R) -> Result<R::Values, ApiError> {
        match required.resolve() {
            Some(values) if self.errors.is_empty() => Ok(values),
            _ => Err(ApiError::InvalidParams(self.errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(value: Value) -> Params {
        match value {
            Value::Object(map) => Params(map),
            _ => Params::default(),
        }
    }

    fn body(err: ApiError) -> (u16, Value) {
        (err.status().as_u16(), err.body())
    }

    fn error(message: &str) -> (u16, Value) {
        (400, json!({ "error": message }))
    }

    #[test]
    fn failures_join_in_declaration_order_in_one_400() {
        let p = params(json!({"b": "x", "d": [1]}));
        let mut d = Declared::new(&p);
        let a = d.requires("a", Integer);
        let b = d.requires("b", Integer);
        let c = d.optional("c", Text);
        let dd = d.requires("d", Text);
        assert_eq!(c, None);
        assert!(a.peek().is_none() && b.peek().is_none() && dd.peek().is_none());
        assert_eq!(
            body(d.finish((a, b, dd)).unwrap_err()),
            error("a is missing, b is invalid, d is invalid")
        );
    }

    #[test]
    fn finish_opens_the_required_values() {
        let p = params(json!({"id": " 7 ", "config": {"k": 1}, "name": 5}));
        let mut d = Declared::new(&p);
        let id = d.requires("id", Integer);
        let config = d.requires("config", Hash);
        let name = d.requires("name", Text);
        let (id, config, name) = d.finish((id, config, name)).unwrap();
        assert_eq!((id, name.as_str()), (7, "5"));
        assert_eq!(Value::Object(config), json!({"k": 1}));
        let empty = Params::default();
        assert!(Declared::new(&empty).finish(()).is_ok());
    }

    #[test]
    fn null_is_absent_everywhere() {
        let p = params(json!({"a": null, "h": {"m": null}}));
        let mut d = Declared::new(&p);
        let a = d.requires("a", Integer);
        assert_eq!(d.optional("a", Integer), None);
        d.requires_hash("h", Hash, |h| {
            assert_eq!(h.optional("m", Integer), None);
            h.requires("m", Integer);
        });
        assert_eq!(
            body(d.finish(a).unwrap_err()),
            error("a is missing, h[m] is missing")
        );
    }

    #[test]
    fn integer_coercion() {
        for (value, expected) in [
            (json!(7), Some(7)),
            (json!(-3), Some(-3)),
            (json!("7"), Some(7)),
            (json!(" 7 "), Some(7)),
            (json!("+7"), Some(7)),
            (json!(1.5), None),
            (json!(1.0), None),
            (json!(u64::MAX), None),
            (json!("x"), None),
            (json!(""), None),
            (json!(true), None),
            (json!([1]), None),
            (json!({}), None),
        ] {
            assert_eq!(Integer.coerce(&value).ok(), expected, "{value}");
        }
    }

    #[test]
    fn text_and_json_string_coercion() {
        assert_eq!(Text.coerce(&json!("a")), Ok("a".to_owned()));
        assert_eq!(Text.coerce(&json!(5)), Ok("5".to_owned()));
        assert_eq!(Text.coerce(&json!(1.5)), Ok("1.5".to_owned()));
        for refused in [json!(true), json!([]), json!({})] {
            assert_eq!(Text.coerce(&refused), Err(Reason::Invalid));
        }
        assert_eq!(JsonString.coerce(&json!("a")), Ok("a".to_owned()));
        assert_eq!(JsonString.coerce(&json!(5)), Err(Reason::Invalid));
    }

    #[test]
    fn boolean_coercion_as_dry_types() {
        for yes in [
            json!(true),
            json!(1),
            json!("1"),
            json!("true"),
            json!("TRUE"),
            json!("yes"),
            json!("on"),
            json!("t"),
            json!("Y"),
        ] {
            assert_eq!(Boolean.coerce(&yes), Ok(true), "{yes}");
        }
        for no in [
            json!(false),
            json!(0),
            json!("0"),
            json!("false"),
            json!("False"),
            json!("no"),
            json!("off"),
            json!("f"),
            json!("N"),
        ] {
            assert_eq!(Boolean.coerce(&no), Ok(false), "{no}");
        }
        for refused in [
            json!(""),
            json!("maybe"),
            json!(" true"),
            json!("tRUE"),
            json!(2),
            json!(1.0),
            json!([]),
            json!({}),
        ] {
            assert_eq!(Boolean.coerce(&refused), Err(Reason::Invalid), "{refused}");
        }
    }

    #[test]
    fn dates_as_ruby_parses_them() {
        let june_13 = NaiveDate::from_ymd_opt(2021, 6, 13);
        for text in [
            "2021-06-13",
            " 2021-06-13 ",
            "2021-06-13T10:00:00Z",
            "2021-06-13 10:00",
            "2021/06/13",
            "2021.06.13",
            "20210613",
            "13/06/2021",
            "13-06-2021",
            "13 Jun 2021",
            "13 june 2021",
            "13-Jun-2021",
            "Jun 13, 2021",
            "June 13 2021",
            "Sun, 13 Jun 2021",
            "Sunday 13 Jun 21",
            "21-06-13",
        ] {
            assert_eq!(parse_date(text), june_13, "{text}");
        }
        assert_eq!(parse_date("99-01-02"), NaiveDate::from_ymd_opt(1999, 1, 2));
        for refused in [
            "",
            "x",
            "2021-02-30",
            "2021-13-01",
            "13 Foo 2021",
            "2021-06",
            "June",
            "1 2 3 4",
        ] {
            assert_eq!(parse_date(refused), None, "{refused}");
        }
        assert_eq!(Date.coerce(&json!("2021-06-13")).ok(), june_13);
        assert_eq!(Date.coerce(&json!(20210613)), Err(Reason::Invalid));
    }

    #[test]
    fn arrays_of_a_type() {
        let ids = Array(Integer);
        assert_eq!(ids.coerce(&json!([1, "2", " 3 "])), Ok(vec![1, 2, 3]));
        assert_eq!(ids.coerce(&json!([])), Ok(vec![]));
        assert_eq!(ids.coerce(&json!([1, "x"])), Err(Reason::Invalid));
        assert_eq!(ids.coerce(&json!(5)), Err(Reason::Invalid));
        let p = params(json!({"ids": [1, "x"]}));
        let mut d = Declared::new(&p);
        d.optional("ids", ids);
        assert_eq!(body(d.finish(()).unwrap_err()), error("ids is invalid"));
    }

    #[test]
    fn values_and_not_blank() {
        let kinds = ["session_cookie", "personal_access_token"];
        let p = params(
            json!({"a": "session_cookie", "b": "other", "c": 5, "d": [], "e": " ", "f": 5, "g": "", "n": 2}),
        );
        let mut d = Declared::new(&p);
        let a = d.requires("a", Text.values(&kinds));
        d.requires("b", Text.values(&kinds));
        d.requires("c", Text.values(&kinds));
        d.requires("d", Text.values(&kinds));
        d.requires("e", JsonString.not_blank());
        d.requires("f", JsonString.not_blank());
        d.requires("g", Integer.not_blank());
        d.requires("n", Integer.values(&[1, 2]));
        d.requires("m", Integer.values(&[1, 2]));
        assert_eq!(a.peek().map(String::as_str), Some("session_cookie"));
        assert_eq!(
            body(d.finish(a).unwrap_err()),
            error(
                "b does not have a valid value, c does not have a valid value, \
                 d does not have a valid value, e is empty, f is invalid, g is empty, m is missing"
            )
        );
    }

    #[test]
    fn coerce_with_runs_before_values() {
        let levels = ["low", "high"];
        let p = params(json!({"s": "HIGH", "t": "Bad"}));
        let mut d = Declared::new(&p);
        let s = d.requires("s", Text.coerce_with(|s| s.to_lowercase()).values(&levels));
        d.optional("t", Text.coerce_with(|s| s.to_lowercase()).values(&levels));
        assert_eq!(s.peek().map(String::as_str), Some("high"));
        assert_eq!(
            body(d.finish(s).unwrap_err()),
            error("t does not have a valid value")
        );
    }

    #[test]
    fn defaults_fill_absent_optionals() {
        let p = params(json!({"trial": "false", "seats": null, "bad": "x"}));
        let mut d = Declared::new(&p);
        assert!(!d.optional_or("trial", Boolean, true));
        assert_eq!(d.optional_or("seats", Integer, 10), 10);
        assert_eq!(d.optional_or("missing", Integer, 3), 3);
        assert_eq!(d.optional_or("bad", Integer, 4), 4);
        assert_eq!(body(d.finish(()).unwrap_err()), error("bad is invalid"));
    }

    #[test]
    fn nested_hashes_are_named_with_brackets() {
        let p = params(json!({
            "gitlab_subscription": {"seats": "x", "start_date": "2021-06-13"},
            "add_on_purchase": 5,
            "counters": {"k8s_api_proxy_request": "many"}
        }));
        let mut d = Declared::new(&p);
        let start = d.requires_hash("gitlab_subscription", Hash, |s| {
            s.optional("seats", Integer);
            s.requires_hash("nested", Hash, |n| n.requires("deep", Integer));
            s.requires("start_date", Date)
        });
        d.requires_hash("add_on_purchase", Hash, |a| a.requires("quantity", Integer));
        let counters = d.optional_hash("counters", Hash, |c| {
            c.optional("k8s_api_proxy_request", Integer)
        });
        assert_eq!(counters, Some(None));
        assert!(start.peek().is_some());
        assert_eq!(
            body(d.finish(start).unwrap_err()),
            error(
                "gitlab_subscription[seats] is invalid, gitlab_subscription[nested] is missing, \
                 add_on_purchase is invalid, counters[k8s_api_proxy_request] is invalid"
            )
        );

        let p = params(json!({"vulnerability": {"location": {"image": "i"}}}));
        let mut d = Declared::new(&p);
        let image = d.requires_hash("vulnerability", Hash, |v| {
            v.requires_hash("location", Hash, |l| {
                assert_eq!(l.value(), &json!({"image": "i"}));
                l.requires("image", Text)
            })
        });
        assert_eq!(d.finish(image.flatten().flatten()).unwrap(), "i");
    }

    #[test]
    fn arrays_of_hashes_name_their_elements_by_index() {
        let p =
            params(json!({"events": [{"user_id": 1}, 5, {"user_id": "x"}, {"user_id": " 4 "}]}));
        let mut d = Declared::new(&p);
        let users = d.requires_array("events", Array(Hash), |event| {
            event.optional("user_id", Integer)
        });
        assert_eq!(users.peek(), Some(&vec![Some(1), None, Some(4)]));
        assert_eq!(
            body(d.finish(users).unwrap_err()),
            error("events[1] is invalid, events[2][user_id] is invalid")
        );
        let p = params(json!({"events": {"a": 1}}));
        let mut d = Declared::new(&p);
        d.optional_array("events", Array(Hash), |_| ());
        assert_eq!(body(d.finish(()).unwrap_err()), error("events is invalid"));
    }

    #[test]
    fn length_caps_refuse_a_long_array_before_its_elements() {
        let p = params(json!({"uuids": ["a", "b", "c"], "events": [{}, {}, {}]}));
        let mut d = Declared::new(&p);
        let uuids = d.requires("uuids", Array(JsonString).at_most(2));
        let mut opened = 0;
        d.optional_array("events", Array(Hash).at_most(2), |_| opened += 1);
        assert_eq!(opened, 0, "no element was looked at");
        assert_eq!(
            body(d.finish(uuids).unwrap_err()),
            error(
                "uuids is expected to have length less than or equal to 2, \
                 events is expected to have length less than or equal to 2"
            )
        );
        let p = params(json!({"uuids": ["a", "b"]}));
        let mut d = Declared::new(&p);
        let uuids = d.requires("uuids", Array(JsonString).at_most(2));
        assert_eq!(d.finish(uuids).unwrap(), vec!["a", "b"]);
    }

    #[test]
    fn one_answer_names_at_most_max_errors_failures() {
        let events: Vec<Value> = (0..10_000).map(|_| json!({"user_id": "x"})).collect();
        let p = params(json!({ "events": events }));
        let mut d = Declared::new(&p);
        let mut opened = 0;
        d.requires_array("events", Array(Hash), |event| {
            opened += 1;
            event.optional("user_id", Integer)
        });
        assert_eq!(
            opened, MAX_ERRORS,
            "elements past the last nameable failure are skipped"
        );
        let (status, answer) = body(d.finish(()).unwrap_err());
        assert_eq!(status, 400);
        let message = answer["error"].as_str().unwrap();
        assert_eq!(message.split(", ").count(), MAX_ERRORS);
        assert!(message.starts_with("events[0][user_id] is invalid, events[1][user_id]"));
        assert!(message.ends_with("events[99][user_id] is invalid"));
    }

    #[test]
    fn json_arrays_name_members_without_an_index_and_each_message_once() {
        let p = params(json!({"items": [{"id": ""}, {"id": " "}, 5, {"id": "x"}]}));
        let mut d = Declared::new(&p);
        let ids = d
            .requires_array("items", JsonArray, |item| {
                item.requires("id", Integer.not_blank())
            })
            .flatten();
        assert_eq!(
            body(d.finish(ids).unwrap_err()),
            error("items[id] is empty, items is invalid, items[id] is invalid")
        );
        // One object stands for an array of it; the values of every element come out.
        let p = params(json!({"items": {"id": "7"}}));
        let mut d = Declared::new(&p);
        let ids = d
            .requires_array("items", JsonArray, |item| item.requires("id", Integer))
            .flatten();
        assert_eq!(d.finish(ids).unwrap(), vec![7]);
        let p = params(json!({"items": [{"id": 1}, {"id": 2}]}));
        let mut d = Declared::new(&p);
        let ids = d
            .requires_array("items", JsonArray, |item| item.requires("id", Integer))
            .flatten();
        assert_eq!(d.finish(ids).unwrap(), vec![1, 2]);
    }

    #[test]
    fn untyped_blocks_declare_members_of_whatever_is_there() {
        // `Any` blocks never refuse: a non-object has no members, a non-array no elements.
        let p = params(json!({"v": "text", "ids": [{"type": "cve"}, 3], "list": "x"}));
        let mut d = Declared::new(&p);
        d.requires_hash("v", Any, |v| v.requires("name", Any));
        d.requires_array("ids", Any, |id| {
            id.requires("type", Any);
        });
        d.requires_array("list", Any, |_| unreachable!("no elements"));
        assert_eq!(
            body(d.finish(()).unwrap_err()),
            error("v[name] is missing, ids[1][type] is missing")
        );
    }

    #[test]
    fn present_counts_an_empty_string_as_missing() {
        let p = params(json!({"a": "", "b": " ", "c": [], "d": {}}));
        let mut d = Declared::new(&p);
        for key in ["a", "b", "c", "d", "e"] {
            d.requires(key, Present(Any));
        }
        assert!(Present(Any).is_absent(&json!(null)));
        assert_eq!(d.optional("a", Present(Integer)), None);
        assert_eq!(
            body(d.finish(()).unwrap_err()),
            error("a is missing, e is missing")
        );
    }

    #[test]
    fn given_declares_on_an_earlier_value() {
        let p = params(json!({"access_type": "session_cookie"}));
        let mut d = Declared::new(&p);
        let kind = d.requires(
            "access_type",
            Text.values(&["session_cookie", "personal_access_token"]),
        );
        if kind.peek().is_some_and(|kind| kind == "session_cookie") {
            d.requires("csrf_token", JsonString.not_blank());
        }
        assert_eq!(
            body(d.finish(kind).unwrap_err()),
            error("csrf_token is missing")
        );
    }
}
