package consentpage

import "github.com/pixelgate/pixelgate/consent"

// ui is the page chrome in one language. The information text itself (what
// is measured, kept, for how long, who to contact) comes from the texts file
// and is what the evidence hash covers; these are labels around it.
type ui struct {
	LangName      string
	OtherLangs    string // label of the language switch
	Skip          string
	StatusFor     string // followed by the masked address
	StatusForAny  string // when the token carries no masked address
	Colon         string // French puts a no-break space before ':'
	States        map[consent.State]string
	Since         string
	Legend        string // before any decision
	ChangeLegend  string // once a decision is in force
	Allow         string
	Refuse        string
	Withdraw      string
	Confirmed     map[consent.State]string
	VersionLabel  string
	InvalidTitle  string
	InvalidBody   string
	ContactUs     string
	Unavailable   string
	UnavailBody   string
	StaleTitle    string
	StaleBody     string
	ForbiddenBody string
	OneClickDone  string
	OneClickBad   string
	// The home page at "/"; %s is the controller's name.
	HomeTitle      string
	HomeBody       string
	HomeRecipients string
	HomeStaff      string
	HomeDashboard  string
	HomePrivacy    string
}

var uiText = map[string]ui{
	"en": {
		LangName:     "English",
		OtherLangs:   "Language",
		Skip:         "Skip to content",
		StatusFor:    "Your current choice for",
		StatusForAny: "Your current choice for the address this email was sent to",
		Colon:        ":",
		States: map[consent.State]string{
			consent.None:      "no choice yet (open tracking is off)",
			consent.Granted:   "open tracking allowed",
			consent.Refused:   "open tracking refused",
			consent.Withdrawn: "consent withdrawn (open tracking is off)",
		},
		Since:        "since",
		Legend:       "Do you allow open tracking?",
		ChangeLegend: "Change your choice",
		Allow:        "Allow open tracking",
		Refuse:       "Refuse open tracking",
		Withdraw:     "Withdraw my consent",
		Confirmed: map[consent.State]string{
			consent.Granted:   "Your choice is recorded: open tracking is allowed. You can withdraw it at any time on this page.",
			consent.Refused:   "Your choice is recorded: open tracking is refused. Nothing else changes.",
			consent.Withdrawn: "Your consent is withdrawn. From now on, opening our emails, old ones included, records nothing.",
		},
		VersionLabel:  "Information text version",
		InvalidTitle:  "This link cannot be used",
		InvalidBody:   "The link you followed is incomplete, damaged or no longer valid. Nothing about you was read or recorded. To manage open tracking, use the “Manage open tracking” link at the bottom of a recent email from us, or contact us.",
		ContactUs:     "Contact",
		Unavailable:   "Temporarily unavailable",
		UnavailBody:   "Your choice cannot be shown or recorded right now, and nothing was changed. Please try again in a few minutes.",
		StaleTitle:    "Please choose again",
		StaleBody:     "The information text has changed or the form was incomplete, so nothing was recorded. Please read the page below and choose again.",
		ForbiddenBody: "This request did not come from this page, so nothing was recorded. Please use the buttons on the page.",
		OneClickDone:  "Your consent to open tracking is withdrawn. Opening our emails, old ones included, records nothing.",
		OneClickBad:   "This one-click request was incomplete, so nothing was recorded.",
		HomeTitle:     "Email open-tracking consent",
		HomeBody: "This server runs pixelgate, the email open-tracking consent proxy of %s: " +
			"our emails let us know you opened them only if you said yes, and you can change your mind at any time.",
		HomeRecipients: "Received an email from us? The “Manage open tracking” link at the bottom of it shows your choice and lets you change it.",
		HomeStaff:      "Staff of %s:",
		HomeDashboard:  "log in to the dashboard",
		HomePrivacy:    "Privacy notice",
	},
	"fr": {
		LangName:     "Français",
		OtherLangs:   "Langue",
		Skip:         "Aller au contenu",
		StatusFor:    "Votre choix actuel pour",
		StatusForAny: "Votre choix actuel pour l’adresse à laquelle cet e-mail a été envoyé",
		Colon:        "\u00a0:",
		States: map[consent.State]string{
			consent.None:      "pas encore de choix (la mesure d’ouverture est désactivée)",
			consent.Granted:   "mesure d’ouverture acceptée",
			consent.Refused:   "mesure d’ouverture refusée",
			consent.Withdrawn: "consentement retiré (la mesure d’ouverture est désactivée)",
		},
		Since:        "depuis le",
		Legend:       "Acceptez-vous la mesure d’ouverture ?",
		ChangeLegend: "Modifier votre choix",
		Allow:        "Accepter la mesure d’ouverture",
		Refuse:       "Refuser la mesure d’ouverture",
		Withdraw:     "Retirer mon consentement",
		Confirmed: map[consent.State]string{
			consent.Granted:   "Votre choix est enregistré : la mesure d’ouverture est acceptée. Vous pouvez la retirer à tout moment sur cette page.",
			consent.Refused:   "Votre choix est enregistré : la mesure d’ouverture est refusée. Rien d’autre ne change.",
			consent.Withdrawn: "Votre consentement est retiré. Désormais, ouvrir nos e-mails, y compris les anciens, n’enregistre plus rien.",
		},
		VersionLabel:  "Version du texte d’information",
		InvalidTitle:  "Ce lien ne peut pas être utilisé",
		InvalidBody:   "Le lien que vous avez suivi est incomplet, endommagé ou n’est plus valable. Aucune information vous concernant n’a été lue ni enregistrée. Pour gérer la mesure d’ouverture, utilisez le lien « Gérer la mesure d’ouverture » en bas d’un e-mail récent de notre part, ou contactez-nous.",
		ContactUs:     "Contact",
		Unavailable:   "Momentanément indisponible",
		UnavailBody:   "Votre choix ne peut pas être affiché ni enregistré pour le moment, et rien n’a été modifié. Merci de réessayer dans quelques minutes.",
		StaleTitle:    "Merci de choisir à nouveau",
		StaleBody:     "Le texte d’information a changé ou le formulaire était incomplet : rien n’a été enregistré. Merci de relire la page ci-dessous et de choisir à nouveau.",
		ForbiddenBody: "Cette demande ne provient pas de cette page : rien n’a été enregistré. Merci d’utiliser les boutons de la page.",
		OneClickDone:  "Votre consentement à la mesure d’ouverture est retiré. Ouvrir nos e-mails, y compris les anciens, n’enregistre plus rien.",
		OneClickBad:   "Cette demande en un clic était incomplète : rien n’a été enregistré.",
		HomeTitle:     "Consentement à la mesure d’ouverture des e-mails",
		HomeBody: "Ce serveur fait fonctionner pixelgate, le relais de consentement à la mesure d’ouverture des e-mails de %s : " +
			"nos e-mails ne nous signalent leur ouverture que si vous l’avez accepté, et vous pouvez changer d’avis à tout moment.",
		HomeRecipients: "Vous avez reçu un e-mail de notre part ? Le lien « Gérer la mesure d’ouverture » en bas de celui-ci affiche votre choix et permet de le modifier.",
		HomeStaff:      "Personnel de %s :",
		HomeDashboard:  "se connecter au tableau de bord",
		HomePrivacy:    "Politique de confidentialité",
	},
}
