//! The DynamoDB adapter. Reads are strongly consistent; a write of several ops is one
//! `TransactWriteItems`, and so is a write of one op that a retry must not apply twice;
//! other single writes are one plain request. The SDK retries what may be retried, within a
//! deadline per HTTP request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, ConditionCheck, Delete, KeySchemaElement, KeyType,
    KeysAndAttributes, Put, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem,
    Update,
};
use serde_json::{Map, Number, Value};

use crate::{
    Addend, Condition, Item, Key, Page, ScanPage, Store, StoreError, TTL_ATTRIBUTE,
    VERSION_ATTRIBUTE, WriteOp, now_epoch,
};

/// DynamoDB's limit of keys per `BatchGetItem`.
const MAX_BATCH_GET: usize = 100;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    /// Built on first use, or by the task [`DynamoStore::connect`] starts: loading the SDK's
    /// configuration, parsing its endpoint partitions and setting up TLS are most of a
    /// function's init, and can run while the runtime waits for the first event instead of
    /// before it asks.
    client: Arc<tokio::sync::OnceCell<Client>>,
    config: Arc<DynamoConfig>,
    table: String,
}

/// How to reach DynamoDB: the table, and an endpoint override for DynamoDB-compatible servers.
#[derive(Clone, Debug, Default)]
pub struct DynamoConfig {
    pub table: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub timeouts: Timeouts,
    /// The HTTP client the SDK sends with, instead of ours: the fault tests put one here that
    /// throttles, resets, times out or loses answers on purpose.
    pub http_client: Option<aws_sdk_dynamodb::config::SharedHttpClient>,
}

/// How long DynamoDB may take: per attempt (then the SDK retries), per operation (all its
/// attempts), and per request (every store call one HTTP request makes). The request deadline
/// stays below the functions' 28 s timeout, so a store that cannot answer is a 503 with
/// GitLab's body, not a Lambda timeout that API Gateway turns into its own 504.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub attempt: Duration,
    pub operation: Duration,
    pub request: Duration,
}

impl Default for Timeouts {
    /// Well inside a function's timeout; DynamoDB answers in milliseconds.
    fn default() -> Self {
        Self {
            attempt: Duration::from_secs(3),
            operation: Duration::from_secs(8),
            request: Duration::from_secs(20),
        }
    }
}

impl Timeouts {
    /// For an emulator on a loaded test machine: moto answers a large query in seconds, and a
    /// retry after a short attempt timeout only queues the same work again behind it.
    pub const EMULATOR: Self = Self {
        attempt: Duration::from_secs(30),
        operation: Duration::from_secs(60),
        request: Duration::from_secs(120),
    };
}

/// How often the SDK tries one call (throttling, 5xx, resets and timed-out attempts are
/// retried), and its backoff: a random wait below 25 ms, 50 ms, ... at most 1 s (the SDK's
/// "standard" mode, with full jitter). The SDK's own default starts at 1 s, longer than most
/// requests here take in all.
const MAX_ATTEMPTS: u32 = 3;
const INITIAL_BACKOFF: Duration = Duration::from_millis(25);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How often a transaction cancelled by a concurrent one on the same items goes again.
const MAX_CONFLICT_RETRIES: u32 = 5;

fn is_conflict<R>(err: &SdkError<TransactWriteItemsError, R>) -> bool {
    match err {
        SdkError::ServiceError(service) => {
            service.err().code() == Some("TransactionCanceledException")
                && service
                    .err()
                    .message()
                    .is_some_and(|message| message.contains("TransactionConflict"))
        }
        _ => false,
    }
}

/// Exponential backoff with full jitter (a random wait below 20 ms, 40 ms, ... 320 ms), so
/// writers that conflicted once do not meet again in step.
fn backoff_with_jitter(attempt: u32) -> Duration {
    let ceiling_ms = 10u32 << attempt.min(6);
    let random = getrandom::u32().unwrap_or(ceiling_ms / 2);
    Duration::from_millis(u64::from(random % ceiling_ms))
}

/// The roots AWS endpoints chain to, compiled in (`certs/aws-roots.pem`: Amazon Root CA 1-4 and
/// the Starfield Services G2 root that cross-signs them).
const AWS_ROOTS_PEM: &[u8] = include_bytes!("../certs/aws-roots.pem");

/// The HTTPS client for AWS's own endpoints, trusting [`AWS_ROOTS_PEM`] only. The SDK's default
/// client reads and parses the system's whole CA bundle (about 140 certificates) when the
/// DynamoDB client is built, at init, and again for the first connection: several
/// milliseconds of every cold start, for a table that only ever presents an Amazon chain.
fn aws_https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(AWS_ROOTS_PEM))
        .build()
        .expect("a trust store of PEM roots builds");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}

impl DynamoStore {
    /// One `BatchGetItem` of at most 100 distinct keys, asked again for what DynamoDB left
    /// unprocessed, with backoff.
    async fn batch_get(&self, chunk: &[&Key]) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut request = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(chunk.iter().map(|k| key_attributes(k)).collect()))
                .consistent_read(true)
                .build()
                .expect("keys are set"),
        );
        let mut attempt = 0u32;
        while let Some(keys_and_attributes) = request.take() {
            let output = self
                .client()
                .await
                .batch_get_item()
                .request_items(&self.table, keys_and_attributes)
                .send()
                .await
                .map_err(classify)?;
            for attributes in output
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                found.push(from_item(attributes)?);
            }
            request = output
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys().is_empty());
            if request.is_some() {
                attempt += 1;
                if attempt > 8 {
                    return Err(StoreError::Unavailable(
                        "unprocessed keys after retries".to_owned(),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(10 << attempt.min(6))).await;
            }
        }
        Ok(found)
    }

    /// A store whose client is built from the standard AWS configuration chain by a task
    /// started here. With an endpoint override and no credentials in the environment, fixed
    /// local credentials are used, since emulators accept any. Nothing is read, parsed or
    /// connected before this returns, so a Lambda function asks for its first event at once.
    pub async fn connect(config: &DynamoConfig) -> Self {
        let store = Self {
            client: Arc::default(),
            config: Arc::new(config.clone()),
            table: config.table.clone(),
        };
        let warm = store.clone();
        tokio::spawn(async move {
            warm.client().await;
        });
        store
    }

    async fn client(&self) -> &Client {
        // Boxed: the configuration loader's state is large, and unboxed it would sit in the
        // future of every store call.
        self.client
            .get_or_init(|| {
                Box::pin(async { Client::new(&sdk_config(&self.config).await) })
                    as std::pin::Pin<Box<dyn std::future::Future<Output = Client> + Send + '_>>
            })
            .await
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Runs one store call within what is left of the request's deadline (the whole
    /// [`Timeouts::request`] outside a request). Cut short, the call is unavailability: a
    /// write cut short applied all or nothing, as every write is one request to DynamoDB.
    async fn within_deadline<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let deadline = self.config.timeouts.request;
        let left = crate::timing::request_elapsed()
            .map_or(deadline, |elapsed| deadline.saturating_sub(elapsed));
        tokio::time::timeout(left, call).await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!(
                "the request's {} s store deadline passed",
                deadline.as_secs_f32()
            )))
        })
    }

    /// Creates the table as `template.yaml` declares it (pk/sk strings, on-demand, TTL on
    /// `ttl`) unless it exists. For local servers and tests; in AWS the template owns it.
    pub async fn create_table_if_missing(&self) -> Result<(), StoreError> {
        match self
            .client()
            .await
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(err) if err.code() == Some("ResourceNotFoundException") => {}
            Err(err) => return Err(classify(err)),
        }
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition is complete")
        };
        let key = |name: &str, key_type| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .expect("key schema element is complete")
        };
        let created = self
            .client()
            .await
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(attribute("pk"))
            .attribute_definitions(attribute("sk"))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(err) if err.code() == Some("ResourceInUseException") => return Ok(()),
            Err(err) => return Err(classify(err)),
        }
        for _ in 0..100 {
            let described = self
                .client()
                .await
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(classify)?;
            let active = described
                .table()
                .and_then(|t| t.table_status())
                .is_some_and(|s| *s == aws_sdk_dynamodb::types::TableStatus::Active);
            if active {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(TTL_ATTRIBUTE)
            .enabled(true)
            .build()
            .expect("TTL specification is complete");
        if let Err(err) = self
            .client()
            .await
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
        {
            tracing::warn!(error = %classify(err), "could not enable TTL on the table");
        }
        Ok(())
    }

    /// Deletes the table (tests use one table per test).
    pub async fn delete_table(&self) -> Result<(), StoreError> {
        self.client()
            .await
            .delete_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

/// An `ADD` operand. DynamoDB refuses a number set with repeated members, so members are
/// sorted and de-duplicated (the set semantics are unchanged).
fn addend_value(addend: &Addend) -> AttributeValue {
    match addend {
        Addend::Number(delta) => AttributeValue::N(delta.to_string()),
        Addend::NumberSet(members) => {
            let distinct: std::collections::BTreeSet<i64> = members.iter().copied().collect();
            AttributeValue::Ns(distinct.iter().map(i64::to_string).collect())
        }
    }
}

/// Maps SDK failures onto the port's errors: conditions, unavailability (network, timeouts,
/// throttling, missing table), and the rest.
/// Whether DynamoDB refused an item or a key for its size (400 KB items, 2048-byte
/// partition keys, 1024-byte sort keys, 4 MB transactions).
fn exceeds_size_limit(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "size has exceeded",
        "exceeds",
        "too large",
        "larger than",
        "maximum allowed size",
        "size limit",
    ]
    .iter()
    .any(|phrase| message.contains(phrase))
}

fn classify<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(format!(
                "{}",
                aws_sdk_dynamodb::error::DisplayErrorContext(&err)
            ))
        }
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            let message = service.err().message().unwrap_or_default();
            match code {
                "ConditionalCheckFailedException" => StoreError::ConditionFailed,
                // The message lists one reason per item ("[ConditionalCheckFailed, None]").
                "TransactionCanceledException" => {
                    if message.contains("ValidationError") && exceeds_size_limit(message) {
                        StoreError::Rejected(format!("{code}: {message}"))
                    } else if message.contains("ValidationError") {
                        StoreError::Other(format!("{code}: {message}"))
                    } else if message.contains("ConditionalCheckFailed") {
                        StoreError::ConditionFailed
                    } else {
                        // Conflicts with concurrent transactions and throttling: retryable.
                        StoreError::Unavailable(format!("{code}: {message}"))
                    }
                }
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "InternalServerError"
                | "ServiceUnavailable"
                | "TransactionInProgressException" => {
                    StoreError::Unavailable(format!("{code}: {message}"))
                }
                // The table is not there (yet, or any more): the service is unavailable,
                // not broken by the request.
                "ResourceNotFoundException" => {
                    StoreError::Unavailable(format!("{code}: {message}"))
                }
                // Only an item or key over DynamoDB's size limits is the client's input being
                // too big; any other refusal is a request of ours DynamoDB cannot take.
                "ValidationException" if exceeds_size_limit(message) => {
                    StoreError::Rejected(format!("{code}: {message}"))
                }
                _ => StoreError::Other(format!("{code}: {message}")),
            }
        }
        _ => StoreError::Other(format!(
            "{}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&err)
        )),
    }
}

fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(values) => AttributeValue::L(values.iter().map(to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(
            map.iter()
                .map(|(k, v)| (k.clone(), to_attribute(v)))
                .collect(),
        ),
    }
}

fn from_attribute(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(n) => n
            .parse::<i64>()
            .map(Value::from)
            .ok()
            .or_else(|| {
                n.parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
            })
            .unwrap_or(Value::Null),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::L(values) => Value::Array(values.iter().map(from_attribute).collect()),
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), from_attribute(v)))
                .collect(),
        ),
        AttributeValue::Ss(values) => {
            Value::Array(values.iter().cloned().map(Value::String).collect())
        }
        AttributeValue::Ns(values) => Value::Array(
            values
                .iter()
                .filter_map(|n| n.parse::<i64>().ok())
                .map(Value::from)
                .collect(),
        ),
        AttributeValue::B(blob) => {
            Value::String(String::from_utf8_lossy(blob.as_ref()).into_owned())
        }
        _ => Value::Null,
    }
}

fn key_attributes(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(key.pk.clone())),
        ("sk".to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

fn item_attributes(item: &Item) -> HashMap<String, AttributeValue> {
    let mut attributes = key_attributes(&item.key);
    for (name, value) in &item.attrs {
        attributes.insert(name.clone(), to_attribute(value));
    }
    attributes
}

/// The items of a query or scan page that have not expired.
fn live_items(
    found: Vec<HashMap<String, AttributeValue>>,
    now: i64,
) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::with_capacity(found.len());
    for attributes in found {
        let item = from_item(attributes)?;
        if !item.expired(now) {
            items.push(item);
        }
    }
    Ok(items)
}

fn from_item(mut attributes: HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
    let mut take = |name: &str| match attributes.remove(name) {
        Some(AttributeValue::S(s)) => Ok(s),
        _ => Err(StoreError::Corrupt(format!("item without a string {name}"))),
    };
    let key = Key {
        pk: take("pk")?,
        sk: take("sk")?,
    };
    let attrs: Map<String, Value> = attributes
        .iter()
        .map(|(k, v)| (k.clone(), from_attribute(v)))
        .collect();
    Ok(Item { key, attrs })
}

/// A condition expression with its placeholders, `None` when unconditional.
struct Expression {
    text: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

fn condition_expression(condition: Condition) -> Option<Expression> {
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    let text = match condition {
        Condition::None => return None,
        Condition::NotExists => "attribute_not_exists(pk)".to_owned(),
        Condition::Exists => "attribute_exists(pk)".to_owned(),
        Condition::VersionEquals(version) => {
            names.insert("#cv".to_owned(), VERSION_ATTRIBUTE.to_owned());
            values.insert(":cv".to_owned(), AttributeValue::N(version.to_string()));
            "#cv = :cv".to_owned()
        }
        Condition::NumberAbove(name, floor) => {
            names.insert("#cn".to_owned(), name.to_owned());
            values.insert(":cn".to_owned(), AttributeValue::N(floor.to_string()));
            "#cn > :cn".to_owned()
        }
    };
    Some(Expression {
        text,
        names,
        values,
    })
}

/// `ADD` for counters, `SET` for attributes, merged with the condition's placeholders.
fn update_expression(
    add: &[(String, Addend)],
    set: &[(String, Value)],
    set_if_absent: &[(String, Value)],
    condition: Condition,
) -> (
    String,
    Option<String>,
    HashMap<String, String>,
    HashMap<String, AttributeValue>,
) {
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    let mut clauses = Vec::new();
    if !add.is_empty() {
        let parts: Vec<String> = add
            .iter()
            .enumerate()
            .map(|(i, (name, addend))| {
                names.insert(format!("#a{i}"), name.clone());
                values.insert(format!(":a{i}"), addend_value(addend));
                format!("#a{i} :a{i}")
            })
            .collect();
        clauses.push(format!("ADD {}", parts.join(", ")));
    }
    let mut sets: Vec<String> = set
        .iter()
        .enumerate()
        .map(|(i, (name, value))| {
            names.insert(format!("#s{i}"), name.clone());
            values.insert(format!(":s{i}"), to_attribute(value));
            format!("#s{i} = :s{i}")
        })
        .collect();
    sets.extend(set_if_absent.iter().enumerate().map(|(i, (name, value))| {
        names.insert(format!("#k{i}"), name.clone());
        values.insert(format!(":k{i}"), to_attribute(value));
        format!("#k{i} = if_not_exists(#k{i}, :k{i})")
    }));
    if !sets.is_empty() {
        clauses.push(format!("SET {}", sets.join(", ")));
    }
    let condition = condition_expression(condition).map(|expr| {
        names.extend(expr.names);
        values.extend(expr.values);
        expr.text
    });
    (clauses.join(" "), condition, names, values)
}

fn non_empty<K, V>(map: HashMap<K, V>) -> Option<HashMap<K, V>> {
    (!map.is_empty()).then_some(map)
}

/// Whether repeating `op` after it applied leaves the table, and the answer, as applying it
/// once does. The SDK repeats a request whose answer it lost (a reset connection, an attempt
/// timed out after DynamoDB applied it): an `ADD` of a number would then count twice, and a
/// conditional write would fail its own condition (a create answering "already exists").
fn repeat_is_harmless(op: &WriteOp) -> bool {
    match op {
        WriteOp::Put { condition, .. } | WriteOp::Delete { condition, .. } => {
            *condition == Condition::None
        }
        WriteOp::Update { add, condition, .. } => {
            *condition == Condition::None
                && add
                    .iter()
                    .all(|(_, addend)| matches!(addend, Addend::NumberSet(_)))
        }
        WriteOp::Check { .. } => true,
    }
}

impl DynamoStore {
    async fn write_one(&self, op: WriteOp) -> Result<(), StoreError> {
        let idempotent = !repeat_is_harmless(&op);
        match op {
            WriteOp::Update {
                key,
                add,
                set,
                set_if_absent,
                condition,
            } => {
                self.update_unexpired(&key, &add, &set, &set_if_absent, condition, idempotent)
                    .await
            }
            WriteOp::Check { key, condition } => {
                // A lone condition check: read consistently and evaluate it here.
                let found = self
                    .get_many(std::slice::from_ref(&key))
                    .await?
                    .pop()
                    .flatten();
                if condition.holds(found.as_ref()) {
                    Ok(())
                } else {
                    Err(StoreError::ConditionFailed)
                }
            }
            other => self.send_one(self.transact_item(other), idempotent).await,
        }
    }

    /// One write of one item. `idempotent` ones go as a one-item `TransactWriteItems`: the SDK
    /// gives each call a `ClientRequestToken` and keeps it across its retries, and DynamoDB
    /// answers a repeated token (for 10 minutes) without applying the write again. That costs
    /// twice the write units of a plain request, in the same single round trip; writes whose
    /// repeat is harmless go plain.
    async fn send_one(&self, write: TransactWriteItem, idempotent: bool) -> Result<(), StoreError> {
        if idempotent {
            return self.transact(vec![write]).await;
        }
        let client = self.client().await;
        if let Some(put) = write.put {
            client
                .put_item()
                .table_name(put.table_name)
                .set_item(Some(put.item))
                .set_condition_expression(put.condition_expression)
                .set_expression_attribute_names(put.expression_attribute_names)
                .set_expression_attribute_values(put.expression_attribute_values)
                .send()
                .await
                .map_err(classify)?;
        } else if let Some(delete) = write.delete {
            client
                .delete_item()
                .table_name(delete.table_name)
                .set_key(Some(delete.key))
                .set_condition_expression(delete.condition_expression)
                .set_expression_attribute_names(delete.expression_attribute_names)
                .set_expression_attribute_values(delete.expression_attribute_values)
                .send()
                .await
                .map_err(classify)?;
        } else if let Some(update) = write.update {
            client
                .update_item()
                .table_name(update.table_name)
                .set_key(Some(update.key))
                .update_expression(update.update_expression)
                .set_condition_expression(update.condition_expression)
                .set_expression_attribute_names(update.expression_attribute_names)
                .set_expression_attribute_values(update.expression_attribute_values)
                .send()
                .await
                .map_err(classify)?;
        }
        Ok(())
    }

    /// One `TransactWriteItems`, sent again (with a new token) while it is cancelled by a
    /// concurrent transaction on one of its items: such a transaction applied nothing, so
    /// commutative writes (counter and set adds) from concurrent requests then all land.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        let mut conflicts = 0;
        loop {
            let sent = self
                .client()
                .await
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            match sent {
                Ok(_) => return Ok(()),
                Err(err) if conflicts < MAX_CONFLICT_RETRIES && is_conflict(&err) => {
                    conflicts += 1;
                    tokio::time::sleep(backoff_with_jitter(conflicts)).await;
                }
                Err(err) => return Err(classify(err)),
            }
        }
    }

    /// An update that treats an expired item as absent, as reads do: DynamoDB keeps expired
    /// items until its TTL sweep, and an `ADD` would otherwise revive an old count. The update
    /// is guarded by "not expired"; when only that guard failed, the item is replaced by a
    /// fresh one, conditioned on still being expired (a concurrent refresh wins and we retry).
    async fn update_unexpired(
        &self,
        key: &Key,
        add: &[(String, Addend)],
        set: &[(String, Value)],
        set_if_absent: &[(String, Value)],
        condition: Condition,
        idempotent: bool,
    ) -> Result<(), StoreError> {
        for _ in 0..5 {
            let now = now_epoch();
            let (update, user_condition, mut names, mut values) =
                update_expression(add, set, set_if_absent, condition);
            names.insert("#ttlx".to_owned(), TTL_ATTRIBUTE.to_owned());
            values.insert(":nowx".to_owned(), AttributeValue::N(now.to_string()));
            let guard = "(attribute_not_exists(#ttlx) OR #ttlx > :nowx)";
            let full = match user_condition {
                Some(user) => format!("({user}) AND {guard}"),
                None => guard.to_owned(),
            };
            let guarded = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key_attributes(key)))
                .update_expression(update)
                .condition_expression(full)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .build()
                .expect("update is complete");
            let updated = self
                .send_one(
                    TransactWriteItem::builder().update(guarded).build(),
                    idempotent,
                )
                .await;
            match updated {
                Err(StoreError::ConditionFailed) => {}
                other => return other,
            }
            // Live items failed the caller's condition; absent or expired ones are empty.
            if self
                .get_many(std::slice::from_ref(key))
                .await?
                .pop()
                .flatten()
                .is_some()
                || !condition.holds(None)
            {
                return Err(StoreError::ConditionFailed);
            }
            let mut fresh = key_attributes(key);
            for (name, addend) in add {
                fresh.insert(name.clone(), addend_value(addend));
            }
            for (name, value) in set.iter().chain(set_if_absent) {
                fresh
                    .entry(name.clone())
                    .or_insert_with(|| to_attribute(value));
            }
            let replace = Put::builder()
                .table_name(&self.table)
                .set_item(Some(fresh))
                .condition_expression("attribute_exists(pk) AND #ttlx <= :nowx")
                .expression_attribute_names("#ttlx", TTL_ATTRIBUTE)
                .expression_attribute_values(":nowx", AttributeValue::N(now.to_string()))
                .build()
                .expect("put is complete");
            let replaced = self
                .send_one(
                    TransactWriteItem::builder().put(replace).build(),
                    idempotent,
                )
                .await;
            match replaced {
                Err(StoreError::ConditionFailed) => continue,
                other => return other,
            }
        }
        Err(StoreError::Unavailable(
            "an expiring item kept changing under an update".to_owned(),
        ))
    }

    fn transact_item(&self, op: WriteOp) -> TransactWriteItem {
        let built = match op {
            WriteOp::Put { item, condition } => {
                let expr = condition_expression(condition);
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item_attributes(&item)))
                    .set_condition_expression(expr.as_ref().map(|e| e.text.clone()))
                    .set_expression_attribute_names(
                        expr.as_ref().and_then(|e| non_empty(e.names.clone())),
                    )
                    .set_expression_attribute_values(expr.and_then(|e| non_empty(e.values)))
                    .build()
                    .expect("put is complete");
                TransactWriteItem::builder().put(put)
            }
            WriteOp::Delete { key, condition } => {
                let expr = condition_expression(condition);
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(&key)))
                    .set_condition_expression(expr.as_ref().map(|e| e.text.clone()))
                    .set_expression_attribute_names(
                        expr.as_ref().and_then(|e| non_empty(e.names.clone())),
                    )
                    .set_expression_attribute_values(expr.and_then(|e| non_empty(e.values)))
                    .build()
                    .expect("delete is complete");
                TransactWriteItem::builder().delete(delete)
            }
            WriteOp::Update {
                key,
                add,
                set,
                set_if_absent,
                condition,
            } => {
                let (update, condition, names, values) =
                    update_expression(&add, &set, &set_if_absent, condition);
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(&key)))
                    .update_expression(update)
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(non_empty(names))
                    .set_expression_attribute_values(non_empty(values))
                    .build()
                    .expect("update is complete");
                TransactWriteItem::builder().update(update)
            }
            WriteOp::Check { key, condition } => {
                let expr = condition_expression(condition).unwrap_or(Expression {
                    text: "attribute_exists(pk) OR attribute_not_exists(pk)".to_owned(),
                    names: HashMap::new(),
                    values: HashMap::new(),
                });
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(&key)))
                    .condition_expression(expr.text)
                    .set_expression_attribute_names(non_empty(expr.names))
                    .set_expression_attribute_values(non_empty(expr.values))
                    .build()
                    .expect("condition check is complete");
                TransactWriteItem::builder().condition_check(check)
            }
        };
        built.build()
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.within_deadline(async {
            // DynamoDB rejects keys over its size limits; no such item can exist, so a lookup by an
            // over-long username or path simply finds nothing, as on the embedded store.
            if keys.iter().any(|key| !key.fits_dynamodb()) {
                let fitting: Vec<Key> = keys
                    .iter()
                    .filter(|key| key.fits_dynamodb())
                    .cloned()
                    .collect();
                let mut found = if fitting.is_empty() {
                    Vec::new()
                } else {
                    self.get_many(&fitting).await?
                }
                .into_iter();
                return Ok(keys
                    .iter()
                    .map(|key| {
                        if key.fits_dynamodb() {
                            found.next().flatten()
                        } else {
                            None
                        }
                    })
                    .collect());
            }
            let now = now_epoch();
            if let [key] = keys {
                let output = self
                    .client()
                    .await
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(key)))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(classify)?;
                let item = output.item.map(from_item).transpose()?;
                return Ok(vec![item.filter(|item| !item.expired(now))]);
            }
            // BatchGetItem rejects duplicate keys: ask once per distinct key, answer in order.
            let mut distinct: Vec<&Key> = keys.iter().collect();
            distinct.sort();
            distinct.dedup();
            // Batches of 100 go out together, so a read of any size stays one round trip.
            let batches = futures_util::future::try_join_all(
                distinct
                    .chunks(MAX_BATCH_GET)
                    .map(|chunk| self.batch_get(chunk)),
            )
            .await?;
            let found: HashMap<Key, Item> = batches
                .into_iter()
                .flatten()
                .map(|item| (item.key.clone(), item))
                .collect();
            Ok(keys
                .iter()
                .map(|key| found.get(key).filter(|item| !item.expired(now)).cloned())
                .collect())
        })
        .await
    }

    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        self.within_deadline(async {
            let now = now_epoch();
            let start = start_after.map(|sk| {
                key_attributes(&Key {
                    pk: pk.to_owned(),
                    sk: sk.to_owned(),
                })
            });
            let output = self
                .client()
                .await
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
                .expression_attribute_values(":prefix", AttributeValue::S(sk_prefix.to_owned()))
                .consistent_read(true)
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(classify)?;
            let items = live_items(output.items.unwrap_or_default(), now)?;
            let next = output
                .last_evaluated_key
                .and_then(|mut key| key.remove("sk"))
                .and_then(|sk| sk.as_s().ok().cloned());
            Ok(Page { items, next })
        })
        .await
    }

    async fn scan(&self, after: Option<&Key>, limit: usize) -> Result<ScanPage, StoreError> {
        self.within_deadline(async {
            let now = now_epoch();
            let output = self
                .client()
                .await
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .set_exclusive_start_key(after.map(key_attributes))
                .send()
                .await
                .map_err(classify)?;
            let items = live_items(output.items.unwrap_or_default(), now)?;
            let next = output.last_evaluated_key.and_then(|mut key| {
                Some(Key {
                    pk: key.remove("pk")?.as_s().ok()?.clone(),
                    sk: key.remove("sk")?.as_s().ok()?.clone(),
                })
            });
            Ok(ScanPage { items, next })
        })
        .await
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        crate::check_distinct_items(&ops)?;
        self.within_deadline(async {
            match ops.len() {
                0 => Ok(()),
                1 => {
                    self.write_one(ops.into_iter().next().expect("one op"))
                        .await
                }
                _ => {
                    self.transact(ops.into_iter().map(|op| self.transact_item(op)).collect())
                        .await
                }
            }
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.within_deadline(async {
            self.client()
                .await
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key_attributes(&crate::keys::settings())))
                .projection_expression("pk")
                .send()
                .await
                .map_err(classify)?;
            Ok(())
        })
        .await
    }
}

/// The SDK configuration: the default chain with our timeouts and retries, the compiled-in AWS roots unless
/// an `https://` endpoint of its own is given, and the environment's credentials named when
/// Lambda gives them.
async fn sdk_config(config: &DynamoConfig) -> aws_config::SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(config.timeouts.attempt)
        .operation_timeout(config.timeouts.operation)
        .build();
    let retries = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
        .with_max_backoff(MAX_BACKOFF);
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .retry_config(retries);
    if let Some(region) = &config.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        // Lambda gives its role's credentials in the environment. Naming the provider keeps
        // the default chain from being built: its web-identity provider constructs a whole
        // STS client (and parses the endpoint partitions for it), a third of a cold start's
        // instructions before this change.
        loader = loader.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        );
    }
    if let Some(endpoint) = &config.endpoint {
        loader = loader.endpoint_url(endpoint);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "local",
                "local",
                None,
                None,
                "local-endpoint",
            ));
        }
        if config.region.is_none()
            && std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            loader = loader.region(aws_config::Region::new("us-east-1"));
        }
    }
    // An https:// endpoint of its own may present any certificate: the system's roots.
    if let Some(client) = &config.http_client {
        loader = loader.http_client(client.clone());
    } else if !config
        .endpoint
        .as_deref()
        .is_some_and(|endpoint| endpoint.starts_with("https://"))
    {
        loader = loader.http_client(aws_https_client());
    }
    loader.load().await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that cannot answer must be a 503 of ours before Lambda ends the function: an
    /// attempt fits in an operation, an operation in the request's deadline, and that in the
    /// functions' timeout in `template.yaml`.
    #[test]
    fn the_deadlines_nest_inside_the_function_timeout() {
        let function_timeout = include_str!("../../../template.yaml")
            .lines()
            .find_map(|line| line.trim().strip_prefix("Timeout: "))
            .and_then(|seconds| seconds.parse::<u64>().ok())
            .map(Duration::from_secs)
            .expect("the template sets the functions' timeout");
        for timeouts in [Timeouts::default(), Timeouts::EMULATOR] {
            assert!(timeouts.attempt < timeouts.operation, "{timeouts:?}");
            assert!(timeouts.operation < timeouts.request, "{timeouts:?}");
        }
        assert!(Timeouts::default().request < function_timeout);
    }

    #[test]
    fn only_writes_whose_repeat_is_harmless_go_plain() {
        let key = Key {
            pk: "p".to_owned(),
            sk: "s".to_owned(),
        };
        let update = |add: Vec<(String, Addend)>, condition| WriteOp::Update {
            key: key.clone(),
            add,
            set: vec![("a".to_owned(), Value::from(1))],
            set_if_absent: Vec::new(),
            condition,
        };
        let put = |condition| WriteOp::Put {
            item: Item::new(key.clone(), &serde_json::json!({})),
            condition,
        };
        let count = || vec![("count".to_owned(), Addend::Number(1))];
        let members = || vec![("ids".to_owned(), Addend::NumberSet(vec![1]))];
        assert!(repeat_is_harmless(&put(Condition::None)));
        assert!(repeat_is_harmless(&update(members(), Condition::None)));
        assert!(repeat_is_harmless(&update(Vec::new(), Condition::None)));
        assert!(!repeat_is_harmless(&put(Condition::NotExists)));
        assert!(!repeat_is_harmless(&update(count(), Condition::None)));
        assert!(!repeat_is_harmless(&update(
            Vec::new(),
            Condition::VersionEquals(3)
        )));
        assert!(!repeat_is_harmless(&WriteOp::Delete {
            key: key.clone(),
            condition: Condition::Exists,
        }));
    }

    /// Building the client checks its HTTPS connector, so a compiled-in bundle that did not
    /// parse would fail here, not at a cold start in AWS.
    #[tokio::test]
    async fn the_compiled_in_aws_roots_build_the_client() {
        let begin = b"-----BEGIN CERTIFICATE-----";
        let certificates = AWS_ROOTS_PEM
            .windows(begin.len())
            .filter(|window| window == begin)
            .count();
        assert_eq!(certificates, 5);
        let store = DynamoStore::connect(&DynamoConfig {
            table: "t".to_owned(),
            endpoint: None,
            region: Some("eu-west-1".to_owned()),
            timeouts: Timeouts::default(),
            http_client: None,
        })
        .await;
        store.client().await;
        assert_eq!(store.table(), "t");
    }

    #[test]
    fn number_sets_go_out_without_repeated_members() {
        let addend = Addend::NumberSet(vec![2, 1, 2, 1]);
        assert_eq!(
            addend_value(&addend),
            AttributeValue::Ns(vec!["1".to_owned(), "2".to_owned()])
        );
    }

    #[test]
    fn attribute_mapping_round_trips_json() {
        let value = serde_json::json!({"s": "x", "n": 42, "neg": -3, "b": true, "z": null,
                                       "l": [1, "a"], "m": {"k": [false]}});
        assert_eq!(from_attribute(&to_attribute(&value)), value);
    }

    #[test]
    fn only_size_refusals_are_the_clients_input() {
        for message in [
            "Item size has exceeded the maximum allowed size",
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes",
            "Transaction request cannot be larger than 4 MB",
        ] {
            assert!(exceeds_size_limit(message), "{message}");
        }
        for message in [
            "One or more parameter values were invalid: An AttributeValue may not contain an empty string",
            "The provided key element does not match the schema",
            "Invalid UpdateExpression: Syntax error",
        ] {
            assert!(!exceeds_size_limit(message), "{message}");
        }
    }

    #[test]
    fn update_expression_merges_condition_placeholders() {
        let (update, condition, names, values) = update_expression(
            &[("count".to_owned(), 1.into())],
            &[("ttl".to_owned(), Value::from(5))],
            &[("access_level".to_owned(), Value::from(10))],
            Condition::VersionEquals(3),
        );
        assert_eq!(
            update,
            "ADD #a0 :a0 SET #s0 = :s0, #k0 = if_not_exists(#k0, :k0)"
        );
        assert_eq!(condition.as_deref(), Some("#cv = :cv"));
        assert_eq!(names.len(), 4);
        assert_eq!(values.len(), 4);
    }
}
