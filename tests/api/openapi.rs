//! `openapi.yaml` parses as OpenAPI 3.1 and lists exactly the routes and methods the server
//! serves: paths are compared with the router's, methods by asking the live server.

use std::collections::{BTreeMap, BTreeSet};

use crate::helpers::TestApp;

fn spec() -> oas3::OpenApiV3Spec {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml"))
        .expect("openapi.yaml exists");
    oas3::from_yaml(text).expect("openapi.yaml parses as OpenAPI")
}

fn documented() -> BTreeMap<String, BTreeSet<String>> {
    spec()
        .paths
        .expect("paths")
        .iter()
        .map(|(path, item)| {
            let methods = item
                .methods()
                .into_iter()
                .map(|(m, _)| m.to_string())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

#[test]
fn openapi_yaml_is_openapi_3_1_and_every_reference_resolves() {
    let spec = spec();
    assert!(spec.openapi.starts_with("3.1"), "{}", spec.openapi);
    for (path, item) in spec.paths.as_ref().unwrap() {
        for (method, op) in item.methods() {
            op.parameters(&spec)
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            op.request_body(&spec)
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            let raw = op.responses.as_ref().map_or(0, |r| r.len());
            assert!(raw > 0, "{method} {path} documents no response");
            assert_eq!(
                op.responses(&spec).len(),
                raw,
                "{method} {path}: a response $ref does not resolve"
            );
        }
    }
}

#[test]
fn every_router_path_is_documented_and_every_documented_path_is_routed() {
    let routed: BTreeSet<String> = crossfold::http::paths()
        .into_iter()
        .map(String::from)
        .collect();
    let documented: BTreeSet<String> = documented().into_keys().collect();
    assert_eq!(
        routed.difference(&documented).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "routed but not in openapi.yaml"
    );
    assert_eq!(
        documented.difference(&routed).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "in openapi.yaml but not routed"
    );
}

#[tokio::test]
async fn every_path_answers_exactly_the_documented_methods() {
    let app = TestApp::spawn().await;
    for (path, methods) in documented() {
        let concrete = path.replace("{id}", "ds_does_not_exist");
        let mut served = BTreeSet::new();
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let res = app
                .client
                .request(
                    method.parse().unwrap(),
                    format!("{}{concrete}", app.address),
                )
                .send()
                .await
                .unwrap();
            if res.status() != 405 {
                served.insert(method.to_owned());
            }
        }
        assert_eq!(served, methods, "methods of {path}");
    }
}
