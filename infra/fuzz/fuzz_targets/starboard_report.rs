//! Starboard vulnerability reports that agentk sends through KAS: the parameters as
//! `gl_http::Params` reads them, then what `PUT .../modules/starboard_vulnerability` reads
//! before any store call (`kas::starboard_vulnerability::read_report`: the size bound, then
//! the declarations) and the finding's UUID (`finding_uuid`), and what `POST .../scan_result`
//! reads (`read_scan_uuids`). Input: query line, `Content-Type` line, body (see
//! `gl_fuzz::Request`).
//!
//! Invariants: a refusal is a 400; an accepted report is no larger than a finding may be,
//! has a known severity (and confidence, when given), one to `MAX_IDENTIFIERS` identifiers,
//! and a version-5 UUID that does not change from one reading to the next; the UUIDs kept from
//! a scan are hyphenated lowercase UUIDs, no more than were sent.

#![no_main]

use gl_fuzz::Request;
use gl_http::Params;
use kas::starboard_vulnerability::{
    CONFIDENCES, MAX_IDENTIFIERS, MAX_REPORT_BYTES, MAX_SCAN_UUIDS, SEVERITIES, finding_uuid,
    read_report, read_scan_uuids,
};
use libfuzzer_sys::fuzz_target;

fn refused(err: &gl_http::ApiError) {
    assert_eq!(err.status().as_u16(), 400, "{err:?}");
}

fuzz_target!(|data: &[u8]| {
    let request = Request::split(data);
    let params = match Params::parse(request.query, request.content_type, request.body) {
        Ok(params) => params,
        Err(err) => return refused(&err),
    };
    match read_report(&params) {
        Ok((vulnerability, scanner)) => {
            let size = serde_json::to_vec(&vulnerability).unwrap().len()
                + serde_json::to_vec(&scanner).unwrap().len();
            assert!(size <= MAX_REPORT_BYTES);
            let severity = vulnerability["severity"].as_str().expect("a text severity");
            assert!(
                SEVERITIES.contains(&severity.to_lowercase().as_str()),
                "{severity}"
            );
            if let Some(confidence) = vulnerability.get("confidence").filter(|c| !c.is_null()) {
                let confidence = confidence.as_str().map(str::to_lowercase);
                assert!(
                    confidence.is_some_and(|c| CONFIDENCES.contains(&c.as_str())),
                    "{vulnerability}"
                );
            }
            let identifiers = vulnerability["identifiers"].as_array().expect("an array");
            assert!((1..=MAX_IDENTIFIERS).contains(&identifiers.len()));
            let uuid = finding_uuid(7, 26, &vulnerability);
            let parsed = uuid::Uuid::parse_str(&uuid).expect("a UUID");
            assert_eq!(parsed.get_version_num(), 5);
            assert_eq!(uuid, finding_uuid(7, 26, &vulnerability.clone()));
        }
        Err(err) => refused(&err),
    }
    match read_scan_uuids(&params) {
        Ok(uuids) => {
            let sent = params.get("uuids").and_then(|u| u.as_array()).unwrap();
            assert!(uuids.len() <= sent.len() && sent.len() <= MAX_SCAN_UUIDS);
            for uuid in &uuids {
                assert_eq!(uuid.len(), 36);
                assert_eq!(*uuid, uuid.to_lowercase());
                assert!(uuid::Uuid::parse_str(uuid).is_ok());
            }
        }
        Err(err) => refused(&err),
    }
});
