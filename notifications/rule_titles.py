"""Every rule id of rules.md in plain words, per language (Kela's terms, rules.md glossary).

Rule ids are persisted keys: add titles, never rename ids. An unknown id falls back to
the id itself so a new engine rule still reaches its recipient.
"""

from __future__ import annotations

from typing import Literal

Language = Literal["fi", "sv", "en"]

RULE_TITLES: dict[str, dict[Language, str]] = {
    "CONTACT-NEXT-WD": {
        "fi": "Yhteydenotto asiakkaaseen kuntoutuspäätöksen saapumista seuraavana arkipäivänä",
        "sv": "Kontakt med klienten senast vardagen efter att rehabiliteringsbeslutet kom",
        "en": "Contact the client by the next working day after the decision arrives",
    },
    "FIRST-MEETING-1W": {
        "fi": "Ensimmäinen tapaaminen viikon kuluessa yhteydenotosta",
        "sv": "Första möte inom en vecka efter kontakten",
        "en": "First meeting within 1 week of the first contact",
    },
    "START-2W": {
        "fi": "Kuntoutus alkaa 2 viikon kuluessa kuntoutuspäätöksen saapumisesta",
        "sv": "Rehabiliteringen börjar inom 2 veckor efter att rehabiliteringsbeslutet kom",
        "en": "Rehabilitation starts within 2 weeks of the decision arriving",
    },
    "WORKPLACE-1M": {
        "fi": "Työskentely työpaikalla alkaa kuukauden kuluessa ensimmäisestä tapaamisesta",
        "sv": "Arbetsplatsfasen börjar inom en månad efter första mötet",
        "en": "Workplace phase starts within 1 month of the first meeting",
    },
    "ILLNESS-EXTENSION": {
        "fi": "Sairauden pidennys suunnittelu- ja työnetsintävaiheeseen (enintään 14 päivää)",
        "sv": "Förlängning för sjukdom i planeringsfasen (högst 14 dagar)",
        "en": "Illness extension of the planning and job-search phase (at most 14 days)",
    },
    "LONG-ILLNESS-CONTACT-KELA": {
        "fi": "Pitkä sairaus: arvioi aikataulu ja ota yhteys Kelaan",
        "sv": "Lång sjukdom: bedöm tidsplanen och kontakta FPA",
        "en": "Long illness: assess timeliness and contact Kela",
    },
    "MEETING-PLACE": {
        "fi": "Tapaaminen verkostokumppanin tiloissa vain verkostotapaamisena",
        "sv": "Möte i nätverkspartnerns lokaler endast som nätverksmöte",
        "en": "In-person meetings at a network partner only for network meetings",
    },
    "EMPLOYER-BREAK-RESUME": {
        "fi": "Työnantajasta johtuvan tauon jälkeen kuntoutus jatkuu heti",
        "sv": "Efter ett avbrott som beror på arbetsgivaren fortsätter rehabiliteringen genast",
        "en": "The service resumes right after a break caused by the employer",
    },
    "EMPLOYER-BREAK-LONG": {
        "fi": "Pitkä työnantajasta johtuva tauko: ota yhteys Kelaan",
        "sv": "Långt avbrott som beror på arbetsgivaren: kontakta FPA",
        "en": "Long break caused by the employer: contact Kela",
    },
    "TOTAL-DURATION": {
        "fi": "Palvelu päättyy enimmäiskeston kuluessa (TK 5 kk, TV 13 kk)",
        "sv": "Tjänsten avslutas inom maximal längd (arbetsprövning 5 mån, arbetsträning 13 mån)",
        "en": "Service ends within its maximum duration (work trial 5, job coaching 13 months)",
    },
    "DAY-QUOTA": {
        "fi": "Kuntoutuspäivien enimmäismäärä (TK 45, TV 95)",
        "sv": "Högsta antal rehabiliteringsdagar (arbetsprövning 45, arbetsträning 95)",
        "en": "Maximum rehabilitation days (work trial 45, job coaching 95)",
    },
    "DAY-LENGTH": {
        "fi": "Kuntoutuspäivä vähintään 6 h, josta 5 h työpaikalla (jousto vain perustellusti)",
        "sv": "En rehabiliteringsdag är minst 6 h, varav 5 h på arbetsplatsen",
        "en": "A rehabilitation day is at least 6 h, 5 h of it at the workplace",
    },
    "TV-PAID-WORK": {
        "fi": "Jokainen työhönvalmennuspäivä on palkkatyötä",
        "sv": "Varje dag i arbetsträning är avlönat arbete",
        "en": "Every job coaching day is paid work",
    },
    "MEALS-PT8": {
        "fi": "Hintalaji 8 (ateriat) vain työkokeilun työpaikkavaiheessa",
        "sv": "Prisslag 8 (måltider) endast i arbetsprövningens arbetsplatsfas",
        "en": "Price type 8 (meals) only in the work trial's workplace phase",
    },
    "ABSENCE-NOT-BILLED": {
        "fi": "Poissaolopäivää ei laskuteta",
        "sv": "En frånvarodag faktureras inte",
        "en": "An absence day is not billed",
    },
    "TV-MEETINGS-MAX": {
        "fi": "Työhönvalmennuksessa enintään 25 tapaamista valmentajan kanssa",
        "sv": "Arbetsträning har högst 25 möten med arbetstränaren",
        "en": "Job coaching has at most 25 meetings with the coach",
    },
    "TK-MEETINGS-MAX": {
        "fi": "Työkokeilun tapaamisten enimmäismäärä",
        "sv": "Högsta antal möten i arbetsprövning",
        "en": "Work trial meeting cap",
    },
    "VIDEO-MEETINGS-MAX": {
        "fi": "Videotapaamisten enimmäismäärä",
        "sv": "Högsta antal videomöten",
        "en": "Maximum number of video meetings",
    },
    "FINAL-DISCUSSION": {
        "fi": "Loppukeskustelu, 60 min, asiakkaan työpaikalla",
        "sv": "Avslutande samtal, 60 min, på klientens arbetsplats",
        "en": "Final discussion, 60 min, at the client's workplace",
    },
    "FEEDBACK-DUE": {
        "fi": "Kuntoutuspalaute (KU148) Kelaan ajallaan",
        "sv": "Rehabiliteringsrespons (KU148) till FPA i tid",
        "en": "Rehabilitation feedback report (KU148) reaches Kela on time",
    },
    "FEEDBACK-RECORDS-EXTENSIONS": {
        "fi": "Käytetty sairauden pidennys kirjataan kuntoutuspalautteeseen",
        "sv": "En använd förlängning för sjukdom antecknas i responsen",
        "en": "An illness extension used is recorded in the feedback report",
    },
    "VOCATIONAL-PLAN": {
        "fi": "Ammatillinen suunnitelma on tehty",
        "sv": "En yrkesplan finns",
        "en": "A vocational plan exists",
    },
    "AUDIT-REPORT-EXPECTED": {
        "fi": "Auditointikertomus Kelalta 2 viikon kuluessa käynnistä",
        "sv": "Auditeringsrapporten från FPA inom 2 veckor efter besöket",
        "en": "Kela's audit report within 2 weeks of the visit",
    },
    "AUDIT-RESPONSE-4W": {
        "fi": "Vastine 4 viikon kuluessa auditointikäynnistä",
        "sv": "Bemötande inom 4 veckor efter auditeringsbesöket",
        "en": "Provider response within 4 weeks of the audit visit",
    },
    "AUDIT-MAJOR-NOW": {
        "fi": "Merkittävä poikkeama korjataan heti",
        "sv": "En betydande avvikelse rättas genast",
        "en": "A major deviation is corrected immediately",
    },
    "AUDIT-MINOR-BY-RESPONSE": {
        "fi": "Lievä poikkeama korjataan vastineen määräpäivään mennessä",
        "sv": "En lindrig avvikelse rättas senast till bemötandets förfallodag",
        "en": "A minor deviation is corrected by the response date",
    },
    "COACH-TEAM-MIN-3": {
        "fi": "Vähintään 3 valmentajan tiimi, jossa valmentajat sijaistavat toisiaan",
        "sv": "Ett team på minst 3 arbetstränare som vikarierar för varandra",
        "en": "A team of at least 3 coaches who substitute for each other",
    },
    "FIRST-AID-VALID": {
        "fi": "Valmentajan ensiapukoulutus voimassa",
        "sv": "Arbetstränarens första hjälpen-utbildning är giltig",
        "en": "The coach's first-aid training is valid",
    },
    "ABSENCE-COVER": {
        "fi": "Poissa olevan valmentajan asiakkaalla on sijainen",
        "sv": "Klienten till en frånvarande arbetstränare har en vikarie",
        "en": "A case of an absent coach has a substitute",
    },
    "DELIVERY-FAILED": {
        "fi": "Hälytysten toimitus epäonnistui toistuvasti",
        "sv": "Leveransen av larm misslyckades upprepade gånger",
        "en": "Alert delivery failed repeatedly",
    },
    "SYNC-FAILED": {
        "fi": "Palveluntuottajan tietojen haku epäonnistui",
        "sv": "Hämtningen av serviceproducentens uppgifter misslyckades",
        "en": "Fetching the provider's data failed",
    },
    "SYNC-RESOLVED": {
        "fi": "Palveluntuottajan tietojen haku toimii taas",
        "sv": "Hämtningen av serviceproducentens uppgifter fungerar igen",
        "en": "Fetching the provider's data works again",
    },
    "CHECK-OVERDUE": {
        "fi": "Vaatimustenmukaisuuden tarkistus on myöhässä",
        "sv": "Efterlevnadskontrollen är försenad",
        "en": "The compliance check is overdue",
    },
}


def rule_title(rule: str, language: Language) -> str:
    """The rule in plain words; the id itself when no title is known."""
    titles = RULE_TITLES.get(rule)
    return titles[language] if titles else rule
