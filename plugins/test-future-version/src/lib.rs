//! A provider built against a future, incompatible contract version
//! (`herald:provider@2.0.0`): Herald must refuse it with a clear message.

wit_bindgen::generate!({
    inline: r#"
        package herald:provider@2.0.0;
        interface provider {
            manifest: func() -> string;
        }
        world provider-plugin {
            export provider;
        }
    "#,
});

struct Future;

impl exports::herald::provider::provider::Guest for Future {
    fn manifest() -> String {
        "from the future".into()
    }
}

export!(Future);
