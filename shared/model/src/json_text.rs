//! Free-form JSON a client sent (Starboard's report documents, an agent's configuration),
//! stored as its text. As a DynamoDB map it would not always fit: DynamoDB numbers run from
//! 1e-130 to 1e126 with 38 digits and maps nest at most 32 deep, while JSON bounds neither,
//! so a legal report could not be stored (Schemathesis found it: a Starboard finding with
//! 2.2e-308 in it was a 500 on DynamoDB). Use as `#[serde(with = "crate::json_text")]`.
//!
//! Records written before this kept the document as a map; those read back as they are. A
//! stored text that is not JSON (an old record whose document was a plain string) reads back
//! as that string.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

pub fn serialize<T: Serialize, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    let text = serde_json::to_string(value).map_err(serde::ser::Error::custom)?;
    serializer.serialize_str(&text)
}

pub fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(text) => serde_json::from_str(&text)
            .or_else(|_| T::deserialize(Value::String(text)))
            .map_err(D::Error::custom),
        stored => T::deserialize(stored).map_err(D::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use serde_json::{Map, Value, json};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Record {
        #[serde(with = "super")]
        document: Value,
        #[serde(with = "super")]
        config: Map<String, Value>,
    }

    #[test]
    fn documents_are_stored_as_text_and_read_back_whole() {
        let deep = (0..40).fold(
            json!(2.2250738585072014e-308),
            |inner, _| json!({"a": inner}),
        );
        let record = Record {
            document: deep.clone(),
            config: json!({"access_as": {"agent": {}}, "big": 1e300})
                .as_object()
                .unwrap()
                .clone(),
        };
        let stored = serde_json::to_value(&record).unwrap();
        assert!(stored["document"].is_string() && stored["config"].is_string());
        assert_eq!(serde_json::from_value::<Record>(stored).unwrap(), record);
    }

    #[test]
    fn records_stored_before_read_back_as_they_were() {
        let old =
            json!({"document": {"name": "CVE-1"}, "config": {"access_as": {"ci_access": {}}}});
        let record: Record = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(record.document, old["document"]);
        assert_eq!(Value::Object(record.config), old["config"]);
        let plain: Record =
            serde_json::from_value(json!({"document": "CVE-2", "config": "{}"})).unwrap();
        assert_eq!(plain.document, json!("CVE-2"));
    }
}
