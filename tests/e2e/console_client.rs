//! What every console test needs to talk to the console: a cookie-carrying
//! HTTP client that does not follow redirects (the tests read where they
//! point), the same session answering plain statuses and pages, the CSRF
//! token a page carries, and the browser tests' preamble (skip without
//! Chromium, sign in through the form).

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

use crate::harness::Herald;
use crate::webdriver::{self, Browser};

/// A browser-like client: sends the session cookie it holds (none until it
/// signs in) and answers the raw response.
pub struct Session {
    base: String,
    http: reqwest::Client,
    /// `name=value` of the session cookie; tests may swap it to replay an
    /// old session.
    pub cookie: Option<String>,
}

impl Session {
    pub fn new(herald: &Herald) -> Self {
        Self {
            base: herald.base.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    /// A session signed in with `key`.
    pub async fn signed_in(herald: &Herald, key: &str) -> Self {
        let mut s = Self::new(herald);
        s.sign_in(key).await;
        s
    }

    /// Signs in with `key`; answers the session cookie's attributes.
    pub async fn sign_in(&mut self, key: &str) -> String {
        let r = self.post("/login", &[("key", key)]).await;
        assert_eq!(r.status(), 303, "sign-in answers a redirect");
        self.take_cookie(&r);
        r.headers()[SET_COOKIE].to_str().unwrap().to_owned()
    }

    /// Keeps the session cookie a response sets.
    pub fn take_cookie(&mut self, r: &reqwest::Response) {
        let set = r.headers()[SET_COOKIE].to_str().unwrap();
        self.cookie = Some(set.split(';').next().unwrap().to_owned());
    }

    fn with_cookie(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(c) => r.header(COOKIE, c),
            None => r,
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.with_cookie(self.http.get(format!("{}{path}", self.base)))
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.with_cookie(self.http.post(format!("{}{path}", self.base)))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Posts a file as `file` (multipart), after the CSRF token when given.
    pub async fn upload(
        &self,
        path: &str,
        csrf: Option<&str>,
        file_name: &str,
        file: Vec<u8>,
    ) -> reqwest::Response {
        let mut form = reqwest::multipart::Form::new();
        if let Some(csrf) = csrf {
            form = form.text("csrf", csrf.to_owned());
        }
        let part = reqwest::multipart::Part::bytes(file).file_name(file_name.to_owned());
        self.with_cookie(self.http.post(format!("{}{path}", self.base)))
            .multipart(form.part("file", part))
            .send()
            .await
            .unwrap()
    }

    /// A page that must answer 200.
    pub async fn page(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        r.text().await.unwrap()
    }
}

/// A signed-in session answering statuses and pages rather than responses,
/// with its CSRF token at hand.
pub struct Console {
    pub session: Session,
    pub csrf: String,
}

impl Console {
    /// Signs in with a tenant's `key` and reads the session's CSRF token.
    pub async fn sign_in(herald: &Herald, key: &str) -> Self {
        let session = Session::signed_in(herald, key).await;
        let csrf = csrf(&session.page("/campaigns").await);
        Self { session, csrf }
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self.session.get(path).await;
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Posts a form; answers the status, the redirect target (if any) and
    /// the page.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        answer(self.session.post(path, form).await).await
    }

    /// Posts a CSV file, the CSRF token first when `csrf`.
    pub async fn upload(&self, path: &str, csv: &str, csrf: bool) -> (u16, String, String) {
        let csrf = csrf.then_some(self.csrf.as_str());
        let file = csv.as_bytes().to_vec();
        answer(self.session.upload(path, csrf, "leads.csv", file).await).await
    }
}

/// The status, the redirect target (empty when none) and the page.
async fn answer(r: reqwest::Response) -> (u16, String, String) {
    let to = r
        .headers()
        .get(LOCATION)
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status().as_u16(), to, r.text().await.unwrap())
}

/// Where a redirect points.
pub fn location(r: &reqwest::Response) -> &str {
    r.headers()[LOCATION].to_str().unwrap()
}

/// The CSRF token a page's forms carry.
pub fn csrf(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    html[at..at + 64].to_owned()
}

/// True (having said so) when Chromium or its driver is missing: the
/// browser test then returns without running.
pub fn skipped() -> bool {
    if webdriver::available() {
        return false;
    }
    eprintln!(
        "SKIPPED: {} or {} missing (./dev.sh test installs Debian's chromium and chromium-driver)",
        webdriver::CHROMIUM,
        webdriver::CHROMEDRIVER
    );
    true
}

/// A browser signed in with `key` through the sign-in form, on the page it
/// lands on (`/campaigns` for a tenant, `/plugins` for the admin).
pub async fn signed_in_browser(herald: &Herald, key: &str, landing: &str) -> Browser {
    let browser = Browser::start().await;
    browser.goto(&format!("{}/login", herald.base)).await;
    browser.type_into("#key", key).await;
    browser.click("button[type=submit]").await;
    browser.wait_for_url(landing).await;
    browser
}
