//! A valid component of some other world: Herald must refuse to install it.

wit_bindgen::generate!({
    inline: r#"
        package acme:greeter@1.0.0;
        world greeter {
            export greet: func(name: string) -> string;
        }
    "#,
});

struct Greeter;

impl Guest for Greeter {
    fn greet(name: String) -> String {
        format!("hello {name}")
    }
}

export!(Greeter);
