//! `herald serve --demo`: a provider simulator on loopback, a demo tenant with
//! an SMS channel pointing at it, and a curl walkthrough to paste.

use std::collections::BTreeMap;

use anyhow::Context;
use herald_sim::{SimConfig, Simulator};

use crate::api::{AppState, tenants::new_api_key};
use crate::domain::send_window::Hours;
use crate::store::NewChannel;

/// Starts the simulator and seeds the demo tenant. Keep the returned
/// simulator alive for as long as the server runs.
pub async fn setup(state: &AppState, public_url: &str) -> anyhow::Result<Simulator> {
    let sim = Simulator::start(SimConfig::default())
        .await
        .context("starting the provider simulator")?;
    let plugin = "twilio-sms";
    if state.registry.get(plugin).is_none() {
        anyhow::bail!("--demo needs the {plugin} plugin; build it with ./dev.sh build");
    }
    let api_key = new_api_key();
    let tenant = state.store.create_tenant("demo", &api_key).await?;
    // The walk must deliver at any hour: its numbers are in the US, and the
    // default quiet hours (08:00-21:00 at the contact) would hold them most
    // of the day. Real tenants keep theirs.
    let open = Hours {
        start: "00:00".into(),
        end: "23:59".into(),
    };
    state
        .store
        .update_tenant_settings(tenant.id, None, None, Some(&open), None, None)
        .await?;
    let sim_url = sim.base_url();
    let host = url::Url::parse(&sim_url)?
        .host_str()
        .unwrap_or("127.0.0.1")
        .to_owned();
    let channel = state
        .store
        .create_channel(
            tenant.id,
            NewChannel {
                name: "Demo SMS (simulated Twilio)".into(),
                plugin: plugin.into(),
                sender: "+15005550006".into(),
                config: BTreeMap::from([
                    (
                        "account-sid".into(),
                        sim.config().twilio_account_sid.clone(),
                    ),
                    ("base-url".into(), sim_url.clone()),
                ]),
                secrets: BTreeMap::from([(
                    "auth-token".into(),
                    sim.config().twilio_auth_token.clone(),
                )]),
                allowed_hosts: Some(vec![host]),
                pinned_sha256: None,
                rate_per_second: None,
            },
        )
        .await?;
    println!(
        "{}",
        walkthrough(public_url, &api_key, channel.id, &sim_url)
    );
    // Last, so it is what the terminal shows: one click signs the demo in
    // (the walkthrough above gives the console's URL and the key).
    println!(
        "Sign in with one click (valid 15 minutes, once): {public_url}{}",
        crate::console::sign_in_link(tenant.id)
    );
    Ok(sim)
}

fn walkthrough(base: &str, key: &str, channel: i64, sim: &str) -> String {
    format!(
        r#"
== Herald demo ==
Provider simulator (Twilio wire format): {sim}  (counts: {sim}/_sim/stats)
Demo tenant API key: {key}
Console: {base}/login  (sign in with the key above; campaigns and their progress)
Channel {channel} sends SMS through the simulator. The demo tenant's quiet
hours are open all day (00:00-23:59) so the walk delivers at any hour; a
real tenant sends 08:00-21:00 at the contact unless it changes them.

Paste into a shell:

export HERALD={base} KEY={key}
api() {{ curl -s -H "Authorization: Bearer $KEY" -H 'content-type: application/json' "$@"; echo; }}
id() {{ grep -o '"id":[0-9]*' | head -1 | cut -d: -f2; }}
LIST=$(api -X POST $HERALD/v1/lists -d '{{"name":"Demo list"}}' | id)
api -X POST $HERALD/v1/lists/$LIST/contacts \
  -d '{{"contacts":[{{"phone":"+14155550100","first_name":"Ana"}},{{"phone":"+14155550101","first_name":"Ben"}},{{"phone":"+14155550002","first_name":"Cy"}}]}}'
CAMPAIGN=$(api -X POST $HERALD/v1/campaigns \
  -d '{{"name":"Hello","channel_id":{channel},"list_id":'$LIST',"body":"Hi {{{{first_name}}}}, this is Herald."}}' | id)
api -X POST $HERALD/v1/campaigns/$CAMPAIGN/start
sleep 2; api $HERALD/v1/campaigns/$CAMPAIGN/progress
api $HERALD/v1/campaigns/$CAMPAIGN/members   # two delivered, one failed

(+14155550002 is a number the simulator reports undelivered, so one member ends failed with code 30003.)
"#
    )
}
