//! An empty function: the Lambda runtime polling for events and answering each one
//! `{"statusCode":200}`. What a function's init costs beyond this is ours.

use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<serde_json::Value>| async {
        Ok::<_, lambda_runtime::Error>(serde_json::json!({"statusCode": 200}))
    }))
    .await
}
