"""The texts a new site's policy ships with: English, German, French and Spanish."""

from __future__ import annotations

from typing import Any

DEFAULT_CATEGORIES: list[dict[str, Any]] = [
    {"key": "necessary", "required": True},
    {"key": "analytics", "required": False},
    {"key": "marketing", "required": False},
    {"key": "preferences", "required": False},
]

DEFAULT_TEXTS: dict[str, dict[str, Any]] = {
    "en": {
        "dir": "ltr",
        "title": "Your privacy choices",
        "description": (
            "We use cookies and similar technologies. Necessary ones keep the site working. "
            "With your permission we also measure how the site is used, personalise it and "
            "show relevant marketing. You can change your mind at any time."
        ),
        "accept_all": "Accept all",
        "reject_all": "Reject all",
        "customise": "Customise",
        "save": "Save choices",
        "close": "Close",
        "preferences_title": "Privacy preferences",
        "always_on": "Always on",
        "gpc_notice": (
            "Your browser's Global Privacy Control signal was honoured: marketing is off."
        ),
        "withdraw": "Withdraw consent",
        "download": "Download my data",
        "delete": "Delete my data",
        "deleted": "Your data was deleted.",
        "reopen": "Privacy settings",
        "categories": {
            "necessary": {
                "label": "Necessary",
                "description": "Needed for the site to work, such as remembering this choice.",
            },
            "analytics": {
                "label": "Analytics",
                "description": (
                    "Counts visits, pages, time on page and searches to improve the site."
                ),
            },
            "marketing": {
                "label": "Marketing",
                "description": "Measures campaigns and shows you relevant offers.",
            },
            "preferences": {
                "label": "Preferences",
                "description": "Remembers settings such as your language or region.",
            },
        },
    },
    "de": {
        "dir": "ltr",
        "title": "Ihre Datenschutz-Einstellungen",
        "description": (
            "Wir verwenden Cookies und ähnliche Technologien. Notwendige halten die Website "
            "funktionsfähig. Mit Ihrer Einwilligung messen wir außerdem die Nutzung, "
            "personalisieren die Website und zeigen passende Werbung. Sie können Ihre Wahl "
            "jederzeit ändern."
        ),
        "accept_all": "Alle akzeptieren",
        "reject_all": "Alle ablehnen",
        "customise": "Anpassen",
        "save": "Auswahl speichern",
        "close": "Schließen",
        "preferences_title": "Datenschutz-Einstellungen",
        "always_on": "Immer aktiv",
        "gpc_notice": "Das Global-Privacy-Control-Signal Ihres Browsers wurde beachtet: "
        "Marketing ist aus.",
        "withdraw": "Einwilligung widerrufen",
        "download": "Meine Daten herunterladen",
        "delete": "Meine Daten löschen",
        "deleted": "Ihre Daten wurden gelöscht.",
        "reopen": "Datenschutz-Einstellungen",
        "categories": {
            "necessary": {
                "label": "Notwendig",
                "description": (
                    "Für den Betrieb der Website nötig, etwa um diese Auswahl zu speichern."
                ),
            },
            "analytics": {
                "label": "Statistik",
                "description": "Zählt Besuche, Seiten, Verweildauer und Suchen, um die Website "
                "zu verbessern.",
            },
            "marketing": {
                "label": "Marketing",
                "description": "Misst Kampagnen und zeigt Ihnen passende Angebote.",
            },
            "preferences": {
                "label": "Präferenzen",
                "description": "Merkt sich Einstellungen wie Sprache oder Region.",
            },
        },
    },
    "fr": {
        "dir": "ltr",
        "title": "Vos choix de confidentialité",
        "description": (
            "Nous utilisons des cookies et des technologies similaires. Les cookies "
            "nécessaires font fonctionner le site. Avec votre accord, nous mesurons aussi "
            "son utilisation, le personnalisons et affichons des publicités pertinentes. "
            "Vous pouvez changer d'avis à tout moment."
        ),
        "accept_all": "Tout accepter",
        "reject_all": "Tout refuser",
        "customise": "Personnaliser",
        "save": "Enregistrer mes choix",
        "close": "Fermer",
        "preferences_title": "Préférences de confidentialité",
        "always_on": "Toujours actif",
        "gpc_notice": "Le signal Global Privacy Control de votre navigateur a été respecté : "
        "le marketing est désactivé.",
        "withdraw": "Retirer mon consentement",
        "download": "Télécharger mes données",
        "delete": "Supprimer mes données",
        "deleted": "Vos données ont été supprimées.",
        "reopen": "Paramètres de confidentialité",
        "categories": {
            "necessary": {
                "label": "Nécessaires",
                "description": "Indispensables au site, par exemple pour mémoriser ce choix.",
            },
            "analytics": {
                "label": "Mesure d'audience",
                "description": "Compte les visites, pages, durées et recherches pour améliorer "
                "le site.",
            },
            "marketing": {
                "label": "Marketing",
                "description": "Mesure les campagnes et vous montre des offres pertinentes.",
            },
            "preferences": {
                "label": "Préférences",
                "description": "Mémorise des réglages comme votre langue ou votre région.",
            },
        },
    },
    "es": {
        "dir": "ltr",
        "title": "Tus opciones de privacidad",
        "description": (
            "Usamos cookies y tecnologías similares. Las necesarias hacen que el sitio "
            "funcione. Con tu permiso también medimos cómo se usa, lo personalizamos y "
            "mostramos publicidad relevante. Puedes cambiar de opinión cuando quieras."
        ),
        "accept_all": "Aceptar todo",
        "reject_all": "Rechazar todo",
        "customise": "Personalizar",
        "save": "Guardar selección",
        "close": "Cerrar",
        "preferences_title": "Preferencias de privacidad",
        "always_on": "Siempre activo",
        "gpc_notice": "Se ha respetado la señal Global Privacy Control de tu navegador: "
        "el marketing está desactivado.",
        "withdraw": "Retirar el consentimiento",
        "download": "Descargar mis datos",
        "delete": "Eliminar mis datos",
        "deleted": "Tus datos se han eliminado.",
        "reopen": "Configuración de privacidad",
        "categories": {
            "necessary": {
                "label": "Necesarias",
                "description": "Imprescindibles para el sitio, por ejemplo para recordar esta "
                "elección.",
            },
            "analytics": {
                "label": "Analítica",
                "description": "Cuenta visitas, páginas, tiempo y búsquedas para mejorar el sitio.",
            },
            "marketing": {
                "label": "Marketing",
                "description": "Mide campañas y te muestra ofertas relevantes.",
            },
            "preferences": {
                "label": "Preferencias",
                "description": "Recuerda ajustes como tu idioma o región.",
            },
        },
    },
}

DEFAULT_LANGUAGE = "en"
MAX_CONSENT_DAYS = 395
DEFAULT_CONSENT_DAYS = 182
DEFAULT_REFUSAL_DAYS = 182
