//! Delivery: SMTP through `lettre`, or the development log.

use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Mail, MailError, Rendered};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};

use crate::config::{smtp_tls, Lifecycle, MailTransport, SmtpTls};

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// Where mail goes.
pub enum Transport {
    /// An SMTP server.
    Smtp {
        /// The client (TLS mode and credentials from `EDGEAUTH_SMTP_URL`).
        client: Box<AsyncSmtpTransport<Tokio1Executor>>,
        /// `EDGEAUTH_MAIL_FROM`.
        from: Mailbox,
    },
    /// Development: the message, link included, is printed to the log.
    Log,
}

/// A failed delivery.
#[derive(Debug)]
pub struct DeliveryError {
    /// Retrying cannot help (a 5xx answer, an unusable address).
    pub permanent: bool,
    /// What went wrong (never the link).
    pub message: String,
}

impl Transport {
    /// The transport the configuration names, `None` when mail is disabled.
    pub fn from_config(config: &Lifecycle) -> Result<Option<Self>, MailError> {
        match &config.transport {
            MailTransport::Disabled => Ok(None),
            MailTransport::Log => Ok(Some(Transport::Log)),
            MailTransport::Smtp { url, extra_roots } => {
                let transport_error =
                    |e: lettre::transport::smtp::Error| MailError::Transport(e.to_string());
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(transport_error)?
                    .timeout(Some(SMTP_TIMEOUT));
                if let Some(pem) = extra_roots {
                    let (mode, host) = smtp_tls(url).map_err(MailError::Transport)?;
                    let parameters = TlsParameters::builder(host)
                        .add_root_certificate(Certificate::from_pem(pem).map_err(transport_error)?)
                        .build_rustls()
                        .map_err(transport_error)?;
                    builder = builder.tls(match mode {
                        SmtpTls::Implicit => Tls::Wrapper(parameters),
                        SmtpTls::Required => Tls::Required(parameters),
                        SmtpTls::Opportunistic => Tls::Opportunistic(parameters),
                        SmtpTls::None => Tls::None,
                    });
                }
                let client = builder.build().into();
                let from = config
                    .mail_from
                    .parse()
                    .map_err(|e| MailError::Transport(format!("EDGEAUTH_MAIL_FROM: {e}")))?;
                Ok(Some(Transport::Smtp { client, from }))
            }
        }
    }

    /// Delivers one rendered mail with `message_id` (`<...@domain>`).
    pub async fn deliver(
        &self,
        mail: &Mail,
        rendered: &Rendered,
        message_id: &str,
    ) -> Result<(), DeliveryError> {
        match self {
            Transport::Log => {
                tracing::info!(
                    kind = mail.kind.name(),
                    to = %mail.to,
                    message_id,
                    subject = %rendered.subject,
                    "development mail transport (EDGEAUTH_SMTP_URL unset), not sent:\n{}",
                    rendered.text
                );
                Ok(())
            }
            Transport::Smtp { client, from } => {
                let message = build_message(from, mail, rendered, message_id)?;
                client
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| DeliveryError {
                        permanent: e.is_permanent(),
                        message: e.to_string(),
                    })
            }
        }
    }
}

/// A multipart/alternative message: plain text, then HTML. Both bodies are
/// quoted-printable, so long links survive SMTP's line length limit intact.
fn build_message(
    from: &Mailbox,
    mail: &Mail,
    rendered: &Rendered,
    message_id: &str,
) -> Result<Message, DeliveryError> {
    let to: Mailbox = mail.to.parse().map_err(|e| DeliveryError {
        permanent: true,
        message: format!("recipient address not usable: {e}"),
    })?;
    let part = |content_type: ContentType, text: &str| -> Result<SinglePart, DeliveryError> {
        let body =
            Body::new_with_encoding(text.to_string(), ContentTransferEncoding::QuotedPrintable)
                .map_err(|_| DeliveryError {
                    permanent: true,
                    message: "mail body cannot be quoted-printable encoded".into(),
                })?;
        Ok(SinglePart::builder().header(content_type).body(body))
    };
    let plain = part(ContentType::TEXT_PLAIN, &rendered.text)?;
    let html = part(ContentType::TEXT_HTML, &rendered.html)?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(rendered.subject.clone())
        .message_id(Some(message_id.to_string()))
        .multipart(MultiPart::alternative().singlepart(plain).singlepart(html))
        .map_err(|e| DeliveryError {
            permanent: true,
            message: e.to_string(),
        })
}
