//! The small vocabularies the synthetic platform is written in: per language a
//! few phrase parts, names and bio lines, and the mix of regions and the
//! languages spoken there. The lists are short on purpose: every topic word
//! recurs often enough that a search for it finds many posts.

/// What the generator needs to write in one language.
#[derive(Debug)]
pub(crate) struct Language {
    /// The tag X reports (`en`, `ja`, ...).
    pub code: &'static str,
    /// Between phrase parts: a space, or nothing for Japanese.
    pub joiner: &'static str,
    /// Between two sentences.
    pub full_stop: &'static str,
    pub openers: &'static [&'static str],
    pub topics: &'static [&'static str],
    pub closers: &'static [&'static str],
    pub first_names: &'static [&'static str],
    pub last_names: &'static [&'static str],
    /// Japanese and Korean names are written family name first, without a space.
    pub family_first: bool,
    pub bio_tails: &'static [&'static str],
}

pub(crate) const EN: Language = Language {
    code: "en",
    joiner: " ",
    full_stop: ". ",
    openers: &[
        "just tried",
        "can't stop thinking about",
        "honestly",
        "hot take:",
        "new blog post on",
        "anyone else obsessed with",
        "finally finished",
        "loving",
        "not sure about",
        "big news about",
        "thread on",
        "today I learned about",
        "still waiting for",
        "quick thoughts on",
    ],
    topics: &[
        "coffee",
        "the new phone",
        "rust",
        "football",
        "the weather",
        "this album",
        "remote work",
        "the election",
        "my cat",
        "pizza",
        "the marathon",
        "open source",
        "machine learning",
        "the playoffs",
        "sourdough",
        "the new season",
        "public transit",
        "space launches",
        "vinyl records",
        "climate policy",
    ],
    closers: &[
        "today",
        "this morning",
        "and I love it",
        "again 😂",
        "what do you think?",
        "🔥🔥",
        "no regrets",
        "more soon",
        "right now",
        "lol",
        "tbh",
        "!!",
        "🙏",
    ],
    first_names: &[
        "James", "Mary", "Alex", "Sarah", "Chris", "Emily", "Jordan", "Jessica", "Mike", "Olivia", "Daniel", "Grace",
    ],
    last_names: &[
        "Smith", "Johnson", "Brown", "Taylor", "Miller", "Davis", "Wilson", "Moore", "Clark", "Lee", "Walker",
    ],
    family_first: false,
    bio_tails: &["opinions my own", "he/him", "she/her", "they/them", "dad of two", "coffee first", "building things"],
};

pub(crate) const ES: Language = Language {
    code: "es",
    joiner: " ",
    full_stop: ". ",
    openers: &[
        "acabo de probar",
        "no puedo dejar de pensar en",
        "sinceramente",
        "opinión impopular:",
        "nuevo post sobre",
        "alguien más obsesionado con",
        "por fin terminé",
        "me encanta",
        "no estoy seguro de",
        "grandes noticias sobre",
        "hilo sobre",
        "hoy aprendí sobre",
    ],
    topics: &[
        "el café",
        "el fútbol",
        "el clima",
        "este álbum",
        "el trabajo remoto",
        "las elecciones",
        "mi gato",
        "la pizza",
        "el maratón",
        "el código abierto",
        "la inteligencia artificial",
        "la nueva temporada",
        "el metro",
        "los tacos",
        "la playa",
        "la música",
    ],
    closers: &[
        "hoy",
        "esta mañana",
        "y me encanta",
        "otra vez 😂",
        "¿qué opinan?",
        "🔥🔥",
        "sin arrepentimientos",
        "jajaja",
        "ahora mismo",
        "la verdad",
        "!!",
        "🙏",
    ],
    first_names: &["María", "José", "Lucía", "Carlos", "Sofía", "Javier", "Valentina", "Diego", "Camila", "Andrés"],
    last_names: &["García", "Martínez", "López", "Sánchez", "Pérez", "Gómez", "Fernández", "Díaz", "Torres", "Ruiz"],
    family_first: false,
    bio_tails: &["opiniones propias", "café y código", "fan del fútbol", "viajando", "mamá de dos"],
};

pub(crate) const PT: Language = Language {
    code: "pt",
    joiner: " ",
    full_stop: ". ",
    openers: &[
        "acabei de experimentar",
        "não paro de pensar em",
        "sinceramente",
        "opinião polêmica:",
        "post novo sobre",
        "mais alguém viciado em",
        "finalmente terminei",
        "amando",
        "não tenho certeza sobre",
        "notícia boa sobre",
        "fio sobre",
        "hoje aprendi sobre",
    ],
    topics: &[
        "o café",
        "o futebol",
        "o tempo",
        "esse álbum",
        "o trabalho remoto",
        "as eleições",
        "meu gato",
        "a pizza",
        "a maratona",
        "o código aberto",
        "a inteligência artificial",
        "a nova temporada",
        "o metrô",
        "o churrasco",
        "a praia",
        "o samba",
    ],
    closers: &[
        "hoje",
        "hoje de manhã",
        "e tô amando",
        "de novo 😂",
        "o que vocês acham?",
        "🔥🔥",
        "sem arrependimentos",
        "kkkkk",
        "agora mesmo",
        "real",
        "!!",
        "🙏",
    ],
    first_names: &["Ana", "João", "Beatriz", "Pedro", "Mariana", "Lucas", "Juliana", "Rafael", "Larissa", "Gabriel"],
    last_names: &[
        "Silva",
        "Santos",
        "Oliveira",
        "Souza",
        "Lima",
        "Pereira",
        "Costa",
        "Rodrigues",
        "Almeida",
        "Ferreira",
    ],
    family_first: false,
    bio_tails: &["opiniões próprias", "café e código", "flamenguista", "viajando por aí", "mãe de dois"],
};

pub(crate) const DE: Language = Language {
    code: "de",
    joiner: " ",
    full_stop: ". ",
    openers: &[
        "gerade probiert:",
        "ehrlich gesagt",
        "unpopuläre Meinung:",
        "neuer Blogpost über",
        "endlich fertig mit",
        "ich liebe",
        "wer ist noch besessen von",
        "große Neuigkeiten zu",
        "Thread über",
        "heute gelernt über",
        "immer noch warten auf",
        "kurze Gedanken zu",
    ],
    topics: &[
        "Kaffee",
        "Fußball",
        "das Wetter",
        "dieses Album",
        "Homeoffice",
        "die Wahl",
        "meine Katze",
        "Pizza",
        "den Marathon",
        "Open Source",
        "künstliche Intelligenz",
        "die neue Staffel",
        "die Bahn",
        "Brezeln",
        "den Urlaub",
        "Musik",
    ],
    closers: &[
        "heute",
        "heute Morgen",
        "und ich liebe es",
        "schon wieder 😂",
        "was meint ihr?",
        "🔥🔥",
        "keine Reue",
        "haha",
        "gerade jetzt",
        "ehrlich",
        "!!",
        "🙏",
    ],
    first_names: &["Anna", "Lukas", "Lena", "Jonas", "Marie", "Felix", "Laura", "Paul", "Hannah", "Leon"],
    last_names: &[
        "Müller",
        "Schmidt",
        "Schneider",
        "Fischer",
        "Weber",
        "Meyer",
        "Wagner",
        "Becker",
        "Hoffmann",
        "Koch",
    ],
    family_first: false,
    bio_tails: &["Meinungen sind meine eigenen", "Kaffee und Code", "Fußballfan", "unterwegs", "Papa von zwei"],
};

pub(crate) const FR: Language = Language {
    code: "fr",
    joiner: " ",
    full_stop: ". ",
    openers: &[
        "je viens d'essayer",
        "je n'arrête pas de penser à",
        "honnêtement",
        "avis impopulaire :",
        "nouvel article sur",
        "qui d'autre est fan de",
        "enfin fini",
        "j'adore",
        "pas sûr pour",
        "grosse nouvelle sur",
        "thread sur",
        "aujourd'hui j'ai appris",
    ],
    topics: &[
        "le café",
        "le foot",
        "la météo",
        "cet album",
        "le télétravail",
        "les élections",
        "mon chat",
        "la pizza",
        "le marathon",
        "l'open source",
        "l'intelligence artificielle",
        "la nouvelle saison",
        "le métro",
        "les croissants",
        "les vacances",
        "la musique",
    ],
    closers: &[
        "aujourd'hui",
        "ce matin",
        "et j'adore",
        "encore 😂",
        "vous en pensez quoi ?",
        "🔥🔥",
        "aucun regret",
        "mdr",
        "en ce moment",
        "franchement",
        "!!",
        "🙏",
    ],
    first_names: &["Camille", "Louis", "Chloé", "Hugo", "Léa", "Jules", "Manon", "Lucas", "Inès", "Arthur"],
    last_names: &["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"],
    family_first: false,
    bio_tails: &["avis personnels", "café et code", "fan de foot", "en voyage", "maman de deux"],
};

pub(crate) const IT: Language = Language {
    code: "it",
    joiner: " ",
    full_stop: ". ",
    openers: &[
        "ho appena provato",
        "non smetto di pensare a",
        "sinceramente",
        "opinione impopolare:",
        "nuovo post su",
        "qualcun altro è fissato con",
        "finalmente finito",
        "adoro",
        "non sono sicuro di",
        "grandi notizie su",
        "thread su",
        "oggi ho imparato",
    ],
    topics: &[
        "il caffè",
        "il calcio",
        "il meteo",
        "questo album",
        "lo smart working",
        "le elezioni",
        "il mio gatto",
        "la pizza",
        "la maratona",
        "l'open source",
        "l'intelligenza artificiale",
        "la nuova stagione",
        "la metro",
        "la pasta",
        "le vacanze",
        "la musica",
    ],
    closers: &[
        "oggi",
        "stamattina",
        "e lo adoro",
        "di nuovo 😂",
        "che ne pensate?",
        "🔥🔥",
        "nessun rimpianto",
        "ahahah",
        "proprio ora",
        "davvero",
        "!!",
        "🙏",
    ],
    first_names: &[
        "Giulia",
        "Marco",
        "Francesca",
        "Luca",
        "Chiara",
        "Alessandro",
        "Sara",
        "Matteo",
        "Elena",
        "Lorenzo",
    ],
    last_names: &["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco"],
    family_first: false,
    bio_tails: &["opinioni personali", "caffè e codice", "tifoso", "in viaggio", "mamma di due"],
};

pub(crate) const JA: Language = Language {
    code: "ja",
    joiner: "",
    full_stop: "。",
    openers: &["今日の", "やっぱり", "久しぶりに", "新しい", "朝から", "週末の", "ついに", "みんなの"],
    topics: &[
        "コーヒー",
        "サッカー",
        "天気",
        "アルバム",
        "リモートワーク",
        "選挙",
        "猫",
        "ラーメン",
        "マラソン",
        "アニメ",
        "AI",
        "新シーズン",
        "電車",
        "お寿司",
        "桜",
        "音楽",
    ],
    closers: &[
        "が最高すぎる",
        "について考えてる",
        "が気になる",
        "が楽しみ！",
        "、どう思う？",
        "が好きすぎて困る",
        "で一日が終わった",
        "はやばい😂",
        "に癒される",
        "をもっと知りたい",
    ],
    first_names: &["ゆうき", "さくら", "はると", "あおい", "れん", "ひな", "そうた", "ゆい", "りく", "めい"],
    last_names: &["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"],
    family_first: true,
    bio_tails: &["アニメとコーヒー", "無言フォロー失礼します", "社会人", "猫が好き", "日常ツイート"],
};

pub(crate) const KO: Language = Language {
    code: "ko",
    joiner: " ",
    full_stop: ". ",
    openers: &["오늘", "드디어", "요즘", "진짜", "아침부터", "주말에"],
    topics: &[
        "커피",
        "축구",
        "날씨",
        "앨범",
        "재택근무",
        "선거",
        "고양이",
        "라면",
        "마라톤",
        "드라마",
        "인공지능",
        "새 시즌",
        "지하철",
        "김치찌개",
        "음악",
    ],
    closers: &["최고야", "너무 좋다", "생각 중", "기대된다!", "어떻게 생각해?", "ㅋㅋㅋ", "😂", "미쳤다", "힐링된다"],
    first_names: &["민준", "서연", "도윤", "지우", "하준", "서윤", "시우", "하은", "지호", "수아"],
    last_names: &["김", "이", "박", "최", "정", "강", "조", "윤", "장", "임"],
    family_first: true,
    bio_tails: &["커피 중독", "일상 계정", "축구 팬", "여행 중"],
};

pub(crate) const AR: Language = Language {
    code: "ar",
    joiner: " ",
    full_stop: ". ",
    openers: &[
        "جربت اليوم",
        "لا أستطيع التوقف عن التفكير في",
        "بصراحة",
        "رأي غير شائع:",
        "مقال جديد عن",
        "أخيراً انتهيت من",
        "أحب",
        "أخبار رائعة عن",
    ],
    topics: &[
        "القهوة",
        "كرة القدم",
        "الطقس",
        "هذا الألبوم",
        "العمل عن بعد",
        "الانتخابات",
        "قطتي",
        "البيتزا",
        "الماراثون",
        "الذكاء الاصطناعي",
        "الموسم الجديد",
        "المترو",
        "رمضان",
        "الموسيقى",
    ],
    closers: &["اليوم", "هذا الصباح", "وأحببته", "مرة أخرى 😂", "ما رأيكم؟", "🔥🔥", "الحمد لله", "جداً", "!!", "🙏"],
    first_names: &["محمد", "فاطمة", "أحمد", "نورة", "عمر", "مريم", "علي", "سارة", "خالد", "ليلى"],
    last_names: &["العتيبي", "القحطاني", "الشمري", "حسن", "إبراهيم", "السيد", "الحربي", "منصور", "يوسف", "سالم"],
    family_first: false,
    bio_tails: &["آراء شخصية", "قهوة وكتب", "مشجع كرة قدم", "مسافر"],
};

pub(crate) const HI: Language = Language {
    code: "hi",
    joiner: " ",
    full_stop: ". ",
    openers: &["आज ट्राई किया", "सच में", "नई पोस्ट", "आखिरकार खत्म किया", "मुझे पसंद है", "बड़ी खबर", "आज सीखा", "अभी भी इंतज़ार"],
    topics: &[
        "चाय",
        "क्रिकेट",
        "मौसम",
        "यह एल्बम",
        "वर्क फ्रॉम होम",
        "चुनाव",
        "मेरी बिल्ली",
        "बिरयानी",
        "मैराथन",
        "आर्टिफिशियल इंटेलिजेंस",
        "नया सीजन",
        "मेट्रो",
        "बॉलीवुड",
        "संगीत",
    ],
    closers: &["आज", "आज सुबह", "बहुत बढ़िया", "फिर से 😂", "आप क्या सोचते हैं?", "🔥🔥", "मज़ा आ गया", "!!", "🙏"],
    first_names: &["आरव", "अनन्या", "विवान", "दिया", "अर्जुन", "सान्वी", "राहुल", "प्रिया", "रोहन", "नेहा"],
    last_names: &["शर्मा", "वर्मा", "गुप्ता", "सिंह", "कुमार", "पटेल", "जोशी", "मेहता", "यादव", "रेड्डी"],
    family_first: false,
    bio_tails: &["क्रिकेट प्रेमी", "चाय और किताबें", "निजी विचार", "यात्री"],
};

pub(crate) const TR: Language = Language {
    code: "tr",
    joiner: " ",
    full_stop: ". ",
    openers: &[
        "bugün denedim:",
        "aklımdan çıkmıyor:",
        "açıkçası",
        "popüler olmayan görüş:",
        "yeni yazı:",
        "sonunda bitirdim:",
        "bayılıyorum:",
        "büyük haber:",
        "bugün öğrendim:",
        "hâlâ bekliyorum:",
    ],
    topics: &[
        "kahve",
        "futbol",
        "hava durumu",
        "bu albüm",
        "uzaktan çalışma",
        "seçimler",
        "kedim",
        "pizza",
        "maraton",
        "yapay zeka",
        "yeni sezon",
        "metro",
        "simit",
        "müzik",
    ],
    closers: &[
        "bugün",
        "bu sabah",
        "ve bayıldım",
        "yine 😂",
        "ne düşünüyorsunuz?",
        "🔥🔥",
        "pişman değilim",
        "jsjsjs",
        "şu an",
        "!!",
        "🙏",
    ],
    first_names: &["Mehmet", "Ayşe", "Mustafa", "Fatma", "Emre", "Zeynep", "Burak", "Elif", "Can", "Merve"],
    last_names: &["Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Yıldız", "Aydın", "Öztürk", "Arslan", "Doğan"],
    family_first: false,
    bio_tails: &["kişisel görüşler", "kahve ve kod", "futbol sever", "gezgin"],
};

/// What an undetermined (`und`) post looks like: emoji, or a bare link.
pub(crate) const UND_TEXTS: &[&str] = &["😂😂😂", "🔥", "👀", "❤️❤️", "🙏🙏", "😭", "💯", "✨✨✨", "🤣", "👏👏"];

/// Hashtags that show up across languages.
pub(crate) const HASHTAGS: &[&str] =
    &["#AI", "#rustlang", "#football", "#music", "#weekend", "#news", "#tech", "#photography", "#travel", "#gaming"];

/// Letters-only words handles are made of (a number makes each handle unique).
pub(crate) const HANDLE_WORDS: &[&str] = &[
    "sunny", "river", "pixel", "maple", "nova", "echo", "luna", "atlas", "cedar", "ember", "falcon", "harbor",
    "indigo", "juniper", "koala", "lemon", "mango", "nimbus", "orbit", "panda", "quartz", "raven", "sierra", "tango",
    "velvet", "willow", "zephyr", "comet", "delta", "fable", "glitch", "hazel", "iris", "jade", "kite", "lotus",
    "mocha", "the", "real", "its", "just", "mr", "ms", "dr", "team", "daily",
];

/// Every language the generator writes in, in a fixed order.
pub(crate) const LANGUAGES: [&Language; 11] = [&EN, &ES, &PT, &DE, &FR, &IT, &JA, &KO, &AR, &HI, &TR];

/// Indexes into `LANGUAGES`.
pub(crate) mod idx {
    pub const EN: u8 = 0;
    pub const ES: u8 = 1;
    pub const PT: u8 = 2;
    pub const DE: u8 = 3;
    pub const FR: u8 = 4;
    pub const IT: u8 = 5;
    pub const JA: u8 = 6;
    pub const KO: u8 = 7;
    pub const AR: u8 = 8;
    pub const HI: u8 = 9;
    pub const TR: u8 = 10;
}

/// A region, how many accounts in a thousand live there (roughly), and the
/// languages its accounts mainly post in. The EU, the EEA and the UK together
/// make up about 30%, as on the large platforms.
/// A region and who lives there.
#[derive(Debug)]
pub(crate) struct Region {
    /// ISO 3166-1 alpha-2.
    pub code: &'static str,
    /// Accounts per thousand, roughly.
    pub weight: u32,
    /// Indexes into `LANGUAGES`, weighted.
    pub languages: &'static [(u8, u32)],
}

const fn region(code: &'static str, weight: u32, languages: &'static [(u8, u32)]) -> Region {
    Region { code, weight, languages }
}

pub(crate) const REGIONS: &[Region] = {
    use idx::*;
    &[
        region("US", 240, &[(EN, 90), (ES, 10)]),
        region("JP", 110, &[(JA, 95), (EN, 5)]),
        region("BR", 70, &[(PT, 97), (EN, 3)]),
        region("IN", 60, &[(EN, 60), (HI, 40)]),
        region("GB", 60, &[(EN, 100)]),
        region("DE", 45, &[(DE, 80), (EN, 20)]),
        region("FR", 45, &[(FR, 85), (EN, 15)]),
        region("ES", 40, &[(ES, 90), (EN, 10)]),
        region("MX", 30, &[(ES, 95), (EN, 5)]),
        region("TR", 30, &[(TR, 95), (EN, 5)]),
        region("IT", 25, &[(IT, 85), (EN, 15)]),
        region("KR", 20, &[(KO, 95), (EN, 5)]),
        region("SA", 20, &[(AR, 95), (EN, 5)]),
        region("CA", 20, &[(EN, 80), (FR, 20)]),
        region("NL", 15, &[(EN, 100)]),
        region("AR", 15, &[(ES, 100)]),
        region("ID", 15, &[(EN, 100)]),
        region("PL", 12, &[(EN, 100)]),
        region("EG", 10, &[(AR, 90), (EN, 10)]),
        region("AU", 10, &[(EN, 100)]),
        region("NG", 10, &[(EN, 100)]),
        region("PH", 10, &[(EN, 100)]),
        region("CO", 10, &[(ES, 100)]),
        region("SE", 8, &[(EN, 100)]),
        region("IE", 8, &[(EN, 100)]),
        region("PT", 8, &[(PT, 90), (EN, 10)]),
        region("AT", 6, &[(DE, 90), (EN, 10)]),
        region("BE", 6, &[(FR, 60), (EN, 40)]),
        region("AE", 5, &[(AR, 50), (EN, 50)]),
        region("ZA", 5, &[(EN, 100)]),
        region("DK", 4, &[(EN, 100)]),
        region("FI", 4, &[(EN, 100)]),
        region("GR", 4, &[(EN, 100)]),
        region("RO", 4, &[(EN, 100)]),
        region("NO", 4, &[(EN, 100)]),
        region("CZ", 3, &[(EN, 100)]),
        region("HU", 3, &[(EN, 100)]),
    ]
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eu_eea_uk_is_about_thirty_percent() {
        let total: u32 = REGIONS.iter().map(|r| r.weight).sum();
        let eu: u32 =
            REGIONS.iter().filter(|r| tollgate_domain::prefs::EU_EEA_UK.contains(&r.code)).map(|r| r.weight).sum();
        let share = f64::from(eu) / f64::from(total);
        assert!((0.28..0.33).contains(&share), "{share}");
    }

    #[test]
    fn handle_words_are_letters_only() {
        assert!(HANDLE_WORDS.iter().all(|w| w.bytes().all(|b| b.is_ascii_lowercase())));
    }
}
