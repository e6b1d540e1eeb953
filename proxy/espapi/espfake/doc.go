// Package espfake is a local fake of the SendGrid, Mailgun and Postmark
// HTTP sending APIs, on 127.0.0.1, for tests: the upstream of pixelgate's
// ESP API front, and a check that what the front forwards is a request the
// ESP would accept.
//
// It serves the ESPs' real paths — SendGrid POST /v3/mail/send, Mailgun
// POST /v3/{domain}/messages (multipart/form-data or
// application/x-www-form-urlencoded) and /v3/{domain}/messages.mime,
// Postmark POST /email and /email/batch — and for every request:
//
//   - checks the credential as the ESP does (SendGrid "Authorization:
//     Bearer KEY", Mailgun HTTP Basic "api:KEY", Postmark
//     X-Postmark-Server-Token) and refuses a wrong or missing one with the
//     ESP's status and body;
//   - checks the body against the ESP's own API reference (each file cites
//     its source) and refuses what the ESP refuses, in the ESP's error
//     format: SendGrid 400 {"errors":[{"message","field","help"}]},
//     Mailgun 400 {"message"}, Postmark 422 {"ErrorCode","Message"};
//   - performs the ESP's per-recipient expansion and records one Delivery
//     per recipient, as that recipient would receive it: SendGrid's
//     personalizations with their legacy substitutions, Mailgun's batch
//     sending with %recipient.NAME% from recipient-variables, each
//     Postmark message as it is;
//   - answers a success exactly as the ESP does (SendGrid 202, empty body,
//     X-Message-Id; Mailgun 200 {"id","message":"Queued. Thank you."};
//     Postmark 200 {"To","SubmittedAt","MessageID","ErrorCode":0,
//     "Message":"OK"}, an array of them for a batch).
//
// A test of the ESP front uses it as the upstream:
//
//	fake := espfake.New(t, espfake.Options{})
//	// start the front with --esp-api-upstream
//	//   sendgrid=fake.URL(),mailgun=fake.URL()+"/v3",postmark=fake.URL()
//	// send through the front with the ESP's SDK and the fake's
//	// credentials (espfake.DefaultSendGridKey, ...), then:
//	for _, d := range fake.Deliveries() {
//		// d.Recipient, d.HTML, d.Tracking, d.Credential ...
//	}
//
// Requests() holds each raw request (headers and body) with the status
// answered, to assert what was forwarded; FailNext and Delay inject
// upstream failures and slowness; PostmarkInactive makes Postmark refuse
// chosen recipients (ErrorCode 406, per element in a batch).
package espfake
