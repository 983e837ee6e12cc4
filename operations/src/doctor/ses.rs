//! The sender's SES identity, its DKIM, and the account's sending status.

use super::*;

/// The address in `Name <addr@example.com>`, or the sender as it is.
pub(super) fn sender_address(sender: &str) -> &str {
    let sender = sender.trim();
    match (sender.rfind('<'), sender.strip_suffix('>')) {
        (Some(open), Some(inner)) => inner[open + 1..].trim(),
        _ => sender,
    }
}

pub(super) async fn check_ses(cx: &Context<'_>, sender: Option<&str>) -> Vec<Check> {
    let (identity, dkim) = match sender {
        None => (
            Check::unchecked(
                name::SES_IDENTITY,
                "no sender given: pass `--sender` or set `JOBS_MAIL_FROM`",
            ),
            Check::unchecked(
                name::SES_DKIM,
                "needs the SES identity (see `SES identity`)",
            ),
        ),
        Some(sender) => check_identity(cx, sender_address(sender)).await,
    };
    vec![identity, dkim, check_sending(cx).await]
}

pub(super) async fn check_identity(cx: &Context<'_>, address: &str) -> (Check, Check) {
    use aws_sdk_sesv2::types::{DkimStatus, IdentityType, VerificationStatus};
    let needs = || {
        Check::unchecked(
            name::SES_DKIM,
            "needs the SES identity (see `SES identity`)",
        )
    };
    let domain = address.rsplit_once('@').map(|(_, d)| d);
    // An address may be covered by its own identity or by its domain's.
    let mut candidates = vec![address];
    candidates.extend(domain);
    let mut found = None;
    for identity in candidates {
        match cx
            .clients
            .sesv2
            .get_email_identity()
            .email_identity(identity)
            .send()
            .await
        {
            Ok(output) => {
                found = Some((identity, output));
                break;
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_not_found_exception()) => {}
            Err(e) => {
                let arn = format!(
                    "arn:{}:ses:{}:{}:identity/{identity}",
                    cx.partition(),
                    cx.region,
                    cx.account()
                );
                return (
                    cx.failure(
                        name::SES_IDENTITY,
                        "GetEmailIdentity",
                        "ses:GetEmailIdentity",
                        &arn,
                        &e,
                    ),
                    needs(),
                );
            }
        }
    }
    let Some((identity, output)) = found else {
        let which = match domain {
            Some(domain) => format!("neither `{address}` nor its domain `{domain}` is"),
            None => format!("`{address}` is not"),
        };
        return (
            Check::problem(
                name::SES_IDENTITY,
                format!("{which} an SES identity in `{}`", cx.region),
                format!(
                    "create the identity (the stack does, from its `SenderAddress` parameter; or `aws sesv2 create-email-identity --email-identity {address}`), then verify it"
                ),
            ),
            needs(),
        );
    };
    let is_domain =
        output.identity_type() != Some(&IdentityType::EmailAddress) && !identity.contains('@');
    let through = if identity == address {
        format!("`{identity}`")
    } else {
        format!("`{address}` (through the domain identity `{identity}`)")
    };
    let verify = if is_domain {
        format!(
            "publish the DKIM CNAME records SES lists for `{identity}` (`aws sesv2 get-email-identity --email-identity {identity}`) in the domain's DNS"
        )
    } else {
        format!(
            "open the verification link SES mailed to `{identity}` (the SES console sends it again)"
        )
    };
    let verification = output.verification_status();
    let identity_check = if output.verified_for_sending_status() {
        Check::ok(
            name::SES_IDENTITY,
            format!("{through} is verified for sending"),
        )
    } else if verification == Some(&VerificationStatus::Success) {
        // Real SES does not answer so; an emulator may. Neither answer can be trusted.
        Check::unchecked(
            name::SES_IDENTITY,
            format!(
                "the endpoint says {through} has `VerificationStatus` `SUCCESS` but `VerifiedForSendingStatus` false, which contradict each other"
            ),
        )
    } else {
        Check::problem(
            name::SES_IDENTITY,
            format!(
                "{through} is not verified for sending (verification `{}`): SES refuses mail from it",
                verification.map_or("unknown", VerificationStatus::as_str)
            ),
            verify.clone(),
        )
    };
    let dkim = output.dkim_attributes();
    let dkim_status = dkim.and_then(|d| d.status());
    let signing = dkim.is_some_and(|d| d.signing_enabled());
    let status_text = dkim_status.map_or("unknown", DkimStatus::as_str);
    let dkim_check = match (dkim_status, signing) {
        (Some(DkimStatus::Success), true) => Check::ok(
            name::SES_DKIM,
            format!("`{identity}` signs with its own DKIM key"),
        ),
        (Some(DkimStatus::Success), false) => Check::problem(
            name::SES_DKIM,
            format!("`{identity}` has DKIM keys, but signing is off"),
            format!(
                "`aws sesv2 put-email-identity-dkim-attributes --email-identity {identity} --signing-enabled`"
            ),
        ),
        _ if is_domain => Check::problem(
            name::SES_DKIM,
            format!(
                "DKIM of `{identity}` is `{status_text}`: the domain is not verified, and its mail is not signed with its own key"
            ),
            verify,
        ),
        // An address identity is signed with its domain's own key only when the
        // domain is a verified identity too; without that SES still sends, so
        // this is advice, not a problem.
        _ => Check::ok(
            name::SES_DKIM,
            format!(
                "DKIM of `{identity}` is `{status_text}`: its mail is not signed with the domain's own key until the domain `{}` is verified in SES",
                domain.unwrap_or(identity)
            ),
        ),
    };
    (identity_check, dkim_check)
}

pub(super) async fn check_sending(cx: &Context<'_>) -> Check {
    const NAME: &str = name::SES_SENDING;
    let output = match cx.clients.sesv2.get_account().send().await {
        Ok(output) => output,
        Err(e) => return cx.failure(NAME, "GetAccount", "ses:GetAccount", "*", &e),
    };
    let mode = if output.production_access_enabled() {
        "production"
    } else {
        "sandbox"
    };
    let quota = output.send_quota().map_or_else(
        || "no quota reported".to_owned(),
        |q| {
            format!(
                "{} mails a day at {}/s, {} sent in the last 24 h",
                q.max24_hour_send(),
                q.max_send_rate(),
                q.sent_last24_hours()
            )
        },
    );
    let detail = format!("{mode}; {quota}");
    if !output.sending_enabled() {
        return Check::problem(
            NAME,
            format!(
                "sending is paused for the account in `{}` ({detail})",
                cx.region
            ),
            "see why in the SES console (Account dashboard, reputation); resume with `aws sesv2 put-account-sending-attributes --sending-enabled`",
        );
    }
    if output.enforcement_status() == Some("SHUTDOWN") {
        return Check::problem(
            NAME,
            format!("SES has shut sending down for the account ({detail})"),
            "contact AWS support through the SES console's Account dashboard",
        );
    }
    if let Some(q) = output.send_quota()
        && q.max24_hour_send() >= 0.0
        && q.sent_last24_hours() >= q.max24_hour_send()
    {
        return Check::problem(
            NAME,
            format!("the daily quota is used up ({detail})"),
            "wait for the 24-hour window to move on, or ask for a higher quota in the SES console (Service Quotas)",
        );
    }
    if !output.production_access_enabled() {
        return Check::problem(
            NAME,
            format!(
                "the account is in the SES sandbox: mail goes only to verified addresses ({detail})"
            ),
            "ask for production access in the SES console (Account dashboard); until then send only to verified addresses or the mailbox simulator",
        );
    }
    Check::ok(NAME, detail)
}
