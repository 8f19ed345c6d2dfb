//! The first visit in the browser (issue 16): a fresh Berth with no users sends its first
//! visitor from the sign-in page to `/setup`, which creates the first admin with the one-time
//! setup token and signs them in; afterwards `/setup` only says Berth is set up. Needs `dist/`
//! and Debian's chromium and chromium-driver, as tests/tests/e2e.rs does.

use berth_tests::browser::{Browser, dist_dir, one_at_a_time};
use berth_tests::{DOCKER_HOST, spawn_gateway};

#[test]
fn the_first_visit_creates_the_first_admin() {
    one_at_a_time(|| async {
        let mut config = berth_server::Config::local(DOCKER_HOST);
        config.static_dir = dist_dir();
        let token_file = config.data_dir.join("admin-token");
        let base = format!("http://{}", spawn_gateway(config));
        let token = std::fs::read_to_string(&token_file).expect("the setup token");

        let browser = Browser::launch(&base, 1280, 860).await;
        browser.goto("/").await;
        browser.find("[data-testid=setup-form]").await;
        assert_eq!(browser.path().await, "/setup");

        // A wrong token says what to use instead; nothing is created.
        browser.type_into("#setup-token", "not the token").await;
        browser.type_into("#setup-user", "ann").await;
        browser
            .type_into("#setup-password", "a long password")
            .await;
        browser.type_into("#setup-repeat", "a long password").await;
        browser.click("[data-testid=setup-submit]").await;
        browser
            .wait_text("[data-testid=setup-error]", "not the setup token")
            .await;
        browser.find("#setup-token").await.clear().await.unwrap();
        browser.type_into("#setup-token", token.trim()).await;
        browser.screenshot("setup").await;
        browser.click("[data-testid=setup-submit]").await;

        // Signed in as the new admin, on the run page, with the admin's nav.
        browser.wait_text("header", "ann").await;
        browser.wait_text("nav", "Users").await;
        assert_eq!(browser.path().await, "/");

        // The page is gone for good: it says so and leads to the sign-in.
        browser.goto("/setup").await;
        browser
            .wait_text("[data-testid=setup-done]", "Berth is set up")
            .await;
        assert!(!token_file.exists(), "the setup token's file is removed");
        browser.close().await;
    });
}
