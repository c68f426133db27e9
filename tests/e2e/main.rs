//! End-to-end suite: the real `herald` binary against the provider
//! simulator, on SQLite and on PostgreSQL.

mod api_client;
mod api_keys;
mod harness;
mod schema;
mod support;
mod twilio_hooks;
mod webdriver;

mod plugin_registry;
mod plugin_signing;
mod progress_tallies;
mod provider_errors;
mod provider_switch;
mod query_plans;
mod rate_limits;

mod connections;
mod console;
mod console_admin;
mod console_audience;
mod console_browser;
mod console_client;
mod console_form;
mod contract;
mod crash;
mod credits;
mod dedupe;
mod demo;
mod dnc;
mod egress;
mod enrolment;
mod example_plugin;
mod fairness;
mod imports;
mod instances;
mod isolation;
mod journeys;
mod kit;
mod lifecycle;
mod media;
mod message_templates;
mod missing_fields;
mod review;
mod sandbox;
mod secrets;
mod sender_wait;
mod sms_campaign;
mod sms_email;
mod tenancy;
mod time;
mod uncertain_sends;
mod validation;
mod voice;
mod webhooks;
mod whatsapp;
