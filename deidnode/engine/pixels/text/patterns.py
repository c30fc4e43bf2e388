"""Layer 2: generic PHI patterns in recognised text, whoever's they are, with where they lie in the line.

Dates, times, ages, phone numbers, e-mail addresses, long digit strings, and the value after a label: a role
(Tech, Technologist, Operator, Scanned by, Performed by, Physician, Dr, Ref, Pt, Patient, Name, ...) is
followed by a person's name, an identifier label (ID, MRN, Acc, DOB, ...) by an identifier. Spaces are
optional everywhere because OCR engines drop them.
"""

from __future__ import annotations

import re

from ...phi import MONTHS
from .fuzzy import within_edits

_MON = "(?:" + "|".join(MONTHS) + ")[A-Z]*"
_D = r"(?:0?[1-9]|[12]\d|3[01])"
_M = r"(?:0?[1-9]|1[0-2])"
_Y4 = r"(?:19|20)\d\d"
_MON3 = "(?:" + "|".join(MONTHS) + ")"
# an l as small text reads it (a one, a capital i, a stroke), and brackets as they are read ("(287> 595-7541")
_L = r"[L1I|]"
_OPEN = r"[(<\[{]"
_CLOSE = r"[)>\]}]"
_UNIT = r"(?:CM|MM|M|MS|S|X|KV|MA|HZ|DB)"
"""The short units a setting's number takes."""
# three letters where a misread month stands that are a unit or a setting ("20 kVp 2000", "1500 ETL 16")
_NOT_A_MONTH = r"(?!(?:MAS|KVP|SEC|BPM|FPS|DEG|MHZ|KHZ|PRF|ETL|FOV|NEX|THK)(?![A-Z]))"

PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # with its name part split by a space a reader put in ("ele ni.quintero@mail.org": up to six letters before it,
    # or two words joined by a dot, "tomasz.ferreir a@mail.org"; not a unit after its number: "250 mAs
    # erik.smith@mail.org"; a host starts with a letter: not "cm @ 3.5")
    (
        "email",
        re.compile(
            r"(?:(?<![\w.])(?:(?<!\d\s)[A-Z]{1,6}|[A-Z]{2,}\.[A-Z]{2,}) )?"
            r"[\w.+-]+\s*@\s*[A-Z][\w-]*(?:\s*\.\s*[\w-]+)+"
        ),
    ),
    # its host read alone at the start of a reading ("@mail.org": the name part before it was not read, or read as
    # a line of its own; the removal follows the glyphs before it), not a setting's "@ 3.5"
    ("email", re.compile(r"^\W*@\s*[A-Z][\w-]*(?:\s*\.\s*[\w-]+)*\s*\.\s*[A-Z]{2,}(?![\w])")),
    # an address cut before its host's dot ("wojcik@mail" of a vertical line read in pieces): letters on both
    # sides of the @ with no space (a setting's @ stands between spaces or before a number: "cm @ 3.5", "@3.5"; a
    # frequency's 0 read as @ is no host: "WE_12@HzZ" of "WF 120Hz")
    ("email", re.compile(r"(?<![\w.])[\w.+-]*[A-Z][\w.+-]*@(?![KM]?HZ)[A-Z][\w-]{2,}")),
    # its dots read as commas, no space around them ("paulo,okonkwo@mail,org")
    ("email", re.compile(r"(?<![\w.,])[\w+-]+(?:[.,][\w+-]+)*@(?![KM]?HZ)[A-Z][\w-]*(?:[.,][A-Z]{2,})+(?![\w])")),
    # its name part's dot read as a colon or comma, no space around it ("tomasz:qulintero@mall.org")
    ("email", re.compile(r"(?<![\w.:,])[A-Z]{2,}[:,][A-Z]{2,}@\s*[A-Z][\w-]*(?:\s*\.\s*[\w-]+)+")),
    # ... or before its host's second letter ("eloni.mackonzie@ma T1"): a name part of two words joined by a dot
    ("email", re.compile(r"(?<![\w.])[A-Z]{2,}\.[A-Z]{2,}@(?:[A-Z][\w-]*)?(?![\w.@])")),
    # its host split by spaces a reader put in ("john.ferreira@m ail org"): a name part of two words joined by a
    # dot, the @ with no space around it, and up to three short pieces of letters, the last of two or more (not a
    # setting's letter after the address: "...@mail.org W 400", nor a label's word: "...@mail.org Se: 3")
    (
        "email",
        re.compile(
            r"(?<![\w.])[A-Z]{2,}\.[A-Z]{2,}@[A-Z]{1,6}(?:[\s.]+[A-Z]{1,6})?[\s.]+[A-Z]{2,6}(?![\w])(?!\s*[\d:;])"
        ),
    ),
    # a web host, the piece of an address after its @ ("mail.org" read as a line of its own), of four characters
    # or more before its domain (a series name "IMG.NET" is shorter)
    ("email", re.compile(r"(?<![\w.@])[A-Z][\w-]{3,}\s*\.\s*(?:COM|ORG|NET|EDU|GOV|INFO)(?![A-Z0-9])")),
    # an address whose @ was misread ("john.mackenziecmail.org") or a web address: three or more labels, the
    # last a generic domain (its last letter, R or O misread: "celine.terreiradmail.ord", "mail.oeg", "mail.ong",
    # "nail.ors", "mail.or?")
    (
        "email",
        re.compile(
            r"(?<![\w.])[\w+-]+(?:\s*[.@]\s*[\w+-]+)+\s*\.\s*"
            r"(?:C[O0]M|[O0][RE][GDE]|[O0@][RN][GSQ?]|ARG|NET|EDU|GOV|INFO)(?![A-Z0-9])"
        ),
    ),
    # (its second mark read as a colon: "1990.10:05")
    ("date", re.compile(rf"(?<!\d){_Y4}\s*[-/.]\s*{_M}\s*[-/.:]\s*{_D}(?!\d)")),
    # ... its year misread beyond the years ("1007.12.15" of "1997.12.19"): four digits, a month and a day of two
    # digits each, joined by the same mark (a version or setting is no date's shape: "1.5.2", "2000-5")
    ("date", re.compile(r"(?<![\d.:/-])\d{4}([-/.])(?:0[1-9]|1[0-2])\1(?:0[1-9]|[12]\d|3[01])(?![\d.:/-])")),
    # ... or its month misread beyond the months ("2036.83.18" of "2012.03.18"): a year of this or the last
    # century, then two and two digits, joined by the same mark
    ("date", re.compile(r"(?<![\d.:/-])(?:19|20)\d\d([-/.])\d\d\1\d\d(?![\d.:/-])")),
    # ... or the day first, every digit whatever it was misread as ("88.89.2888" of "08.09.2000"): two, two and four
    # digits joined by the same mark
    ("date", re.compile(r"(?<![\d.:/-])\d\d([-/.])\d\d\1\d{4}(?![\d.:/-])")),
    ("date", re.compile(rf"(?<!\d){_D}\s*[-/.]\s*{_D}\s*[-/.]\s*(?:{_Y4}|\d\d)(?!\d)")),
    ("date", re.compile(rf"(?<![\dA-Z]){_D}\s*[- ]?\s*{_MON}\s*[- ,.]*\s*{_Y4}(?!\d)")),
    # ... its first slash read as a 7 or 1 ("11724/1995", "01727/2013"): two numbers of a day or month run
    # together, a slash and a year
    ("date", re.compile(rf"(?<![\d.]){_D}[71]{_D}\s*/\s*{_Y4}(?!\d)")),
    # ... or its second, before a year of two digits ("24/11741" of "28/11/91"): a day, a slash, a month of two
    # digits (a count's larger number is no month: "3/21700")
    ("date", re.compile(rf"(?<![\d.]){_D}\s*/\s*(?:0[1-9]|1[0-2])[71]\d\d(?![\d./])")),
    ("date", re.compile(rf"(?<![\dA-Z]){_D}\s*[- ]\s*{_MON}\s*[- ]\s*\d\d(?!\d)")),
    ("date", re.compile(rf"{_MON}\s*\.?\s*{_D}\s*,?\s*{_Y4}(?!\d)")),
    ("date", re.compile(rf"(?<!\d){_Y4}\s*[- ]?\s*{_MON}\s*[- ]?\s*{_D}(?!\d)")),
    # a year and its month with the day cut at the box's edge or not written ("2024 DEC", "DEC 2024"): the
    # month's three letters as a word of their own
    (
        "date",
        re.compile(rf"(?<![\dA-Z]){_Y4}\s*[- ]?\s*{_MON3}(?![A-Z\d])|(?<![\dA-Z]){_MON3}\s*[- ,.]*\s*{_Y4}(?!\d)"),
    ),
    # ... its year's first digit cut at the box's edge ("006SEP 24" of "2006 SEP 24")
    ("date", re.compile(rf"^\W*[019]\d\d\s*[- ]?\s*{_MON}\s*[- ]?\s*{_D}(?!\d)")),
    ("date", re.compile(rf"(?<!\d){_Y4}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?!\d)")),
    # a written month read as one to three stray letters between the day and the year ("28a2004" of 28-Mar-2004);
    # not a setting's unit ("Depth16m1973.0227": a depth of 16 cm run into a date)
    ("date", re.compile(rf"(?<![\d.]){_D}(?!{_UNIT}{_Y4})[A-Z]{{1,3}}{_Y4}(?!\d)")),
    # a day, a month and a year in the shape of a date whatever the month was misread as ("22-Lec-2012",
    # "10-nua-2010", "26Psb,2013", "409 28,2004" of "Aug 26, 2008"): three characters with a letter between a day
    # and a year (not a unit or technical word: "20 kVp 2000", "Gn 12 PRF 2000", nor a number and its unit as the
    # day and two of the three: "3FR 30Hz 1987.02.14"), or three characters, a day, a comma and a year
    (
        "date",
        re.compile(
            rf"(?<![\dA-Z])(?!\d+{_UNIT}(?![A-Z])){_D}\s*[-/ ]?\s*(?=[A-Z0-9]{{0,2}}[A-Z]){_NOT_A_MONTH}"
            rf"[A-Z0-9]{{3}}\s*[-/ ,.]?\s*{_Y4}(?!\d)"
        ),
    ),
    # the same with the year first ("2007 HOV 03", "2007 10V 02" of "2007 NOV 03"), the three characters between
    # spaces or dashes
    (
        "date",
        re.compile(
            rf"(?<![\d.]){_Y4}\s*[- ]\s*(?=[A-Z0-9]{{0,2}}[A-Z]){_NOT_A_MONTH}"
            rf"[A-Z0-9]{{3}}\s*[- ]\s*{_D}(?![\d.:])"
        ),
    ),
    # a day, a written month and a year that lost a digit ("24 MAY  001" of 24 MAY 2001)
    ("date", re.compile(rf"(?<![\dA-Z]){_D}\s*[- ]?\s*{_MON}\s*[- ,.]*\s*\d{{3}}(?!\d)")),
    # a whole reading of a day, a month and a year that lost a digit ("24 06 201" of 24.06.2001), or of a date
    # that lost its day's last digit and its month's first ("203.2018" of 23.03.2018)
    ("date", re.compile(r"^\W*(?:0[1-9]|[12]\d|3[01])[ .]\s*(?:0[1-9]|1[0-2])[ .]\s*(?:19|20)\d\W*$")),
    ("date", re.compile(r"^\W*\d{3}\.(?:19|20)\d\d\W*$")),
    # (its year cut at the box's edge too: "Awg 26, 200")
    ("date", re.compile(rf"(?<![\dA-Z])[A-Z0-9]{{3}}\s+{_D}\s*[,.]\s*(?:{_Y4}|(?:19|20)\d$)(?!\d)")),
    (
        "time",
        # with one of two colons read as a semicolon or dash ("12:46;13 PM", "21:09-59"), and AM or PM read in
        # look-alikes ("8:46:17 Pr", "4:11:16 PW", "5:55:20 IHM", "7:29:05-BH") or after a mark read in its space
        # ("3:04:58/AM")
        re.compile(
            r"(?<![\d.])(?:[01]?\d|2[0-3])\s*(?::\s*[0-5]\d(?:\s*[:;-]\s*[0-5]\d)?|;\s*[0-5]\d\s*:\s*[0-5]\d)"
            r"(?:\s*[/,-]?\s*(?:[AP][MNRW]|[IB8][HMN]{1,2})(?![A-Z]))?(?![\d.])"
        ),
    ),
    # ... its second colon read as a dot before AM or PM ("1:53.39 PM")
    ("time", re.compile(r"(?<![\d.])(?:[01]?\d|2[0-3])\s*:\s*[0-5]\d\s*\.\s*[0-5]\d\s*[AP]M(?![A-Z])")),
    # a 12-hour time whose colons were not read ("50420 AM" of "5:04:20 AM", "1249PM"), its hour's digit lost
    # too ("2129PM" of "3:21:29 PM")
    ("time", re.compile(r"(?<![\d.])(?:[1-9]|1[0-2])[0-5]\d(?:[0-5]\d)?\s*[AP]M(?![A-Z])")),
    ("time", re.compile(r"(?<![\d.])[0-5]\d[0-5]\d\s*[AP]M(?![A-Z])")),
    # ... or only its first colon ("328:25PM" of "3:28:25 PM")
    ("time", re.compile(r"(?<![\d.])(?:[1-9]|1[0-2])[0-5]\d\s*:\s*[0-5]\d\s*[AP]M(?![A-Z])")),
    # a 24-hour time with its first colon lost ("9157:21" of "01:57:21"; "D151:07", its 0 read as a letter):
    # three or four digits, a colon, two
    ("time", re.compile(r"(?<![\w.:/])[DO]?\d{1,2}[0-5]\d\s?:\s?[0-5]\d(?![\d:%])")),
    # ... or its second ("09:0124" of "09:01:24"): an hour of two digits, a colon, four digits of minutes and
    # seconds (not a scale's "1:1000")
    ("time", re.compile(r"(?<![\w.:/])(?:[01]\d|2[0-3]):[0-5]\d[0-5]\d(?![\d:%.])")),
    # ... or a digit of its minutes ("10:8:01" of "10:48:01"): an hour of two digits, a colon, one digit, a
    # colon, two
    ("time", re.compile(r"(?<![\w.:/])(?:[01]\d|2[0-3]):\d:[0-5]\d(?![\d:%])")),
    # a time with spaces read inside its numbers ("04 :5 4: 4 8"): two digits, a colon, two, a colon, two
    ("time", re.compile(r"(?<![\d:.])[0-2]\s?\d\s*:\s*[0-5]\s?\d\s*:\s*[0-5]\s?\d(?![\d:])")),
    # with its label when one was read ("Tel 875-645-3888", "]Te 390-...", "Tal 330-...", "TCI", "Ts]", "Pel",
    # "el": the label goes with the number), a dash read as a colon after the area code ("Tel 484:465-1637": three
    # digits before a colon are no time) or as an equals sign ("9=813=6904"), a bracket as its look-alike
    # ("(287> 595-7541"), a space read inside the last group ("505-46 39")
    (
        "phone",
        re.compile(
            rf"(?:(?<![A-Z])(?:T[EACS](?:{_L}|\])?|P?E{_L}|PH|PHONE|FAX)\s*[.:#]?\s*)?"
            rf"(?<!\d)(?:\+\s*\d{{1,3}}[\s.-]*)?{_OPEN}?\d{{3}}{_CLOSE}?[\s.:=-]*\d{{3}}[\s.=-]*\d(?: ?\d){{3}}(?!\d)"
        ),
    ),
    # with its label, a group read a digit longer or shorter ("Te1l 952-913-28910" of "Tel 952-903-2890"), the label
    # misread (".e1 657420-5576") or run into the number ("Te1487-408-568125Y": the age after it, fused too)
    (
        "phone",
        re.compile(
            rf"(?<![A-Z])(?:[T.]E{_L}{{0,2}}|PHONE|FAX)\s*[.:#]?\s*"
            r"(?<!\d)\(?\d{3,4}\)?[\s.-]*\d{3,4}[\s.-]*\d{4}\d?"
        ),
    ),
    # ... or its area code misread into a letter or two, its label's T doubled ("Ttel s6293-8138" of "Tel
    # 313-293-8138"): the label and a local number after it
    ("phone", re.compile(rf"(?<![A-Z])T?T[EACS]{_L}\s*[.:#]?\s*[A-Z0-9]{{0,3}}\d{{3}}\s*-\s*\d{{4}}(?!\d)")),
    # two slashes between numbers are a date, whatever the numbers were misread as ("21/96/95"), and so is one
    # cut after its second slash ("65/83/"), one read with a slash doubled, or cut before its first slash
    # ("/07//93" of "17/07/93"); technical text has one slash at most ("Im: 12/40")
    (
        "date",
        re.compile(r"(?<![\d/])(?:/\d{1,2}\s*/{1,2}\s*\d{2,4}|\d{1,4}\s*/{1,2}\s*\d{1,2}\s*/{1,2}\s*\d{0,4})(?![\d/])"),
    ),
    # an age, whoever's (PS3.15 removes Patient's Age): "70 YRS", "8 yo", "Age 82", "057Y", "65Y F"
    ("age", re.compile(r"(?<![\w.])\d{1,3}\s*(?:YRS|YEARS|YR|Y/O|YO)(?![A-Z])")),
    ("age", re.compile(r"(?<![\w.])\d{2,3}Y(?![A-Z0-9])")),  # and one of its three digits lost ("07Y" of "077Y")
    # an age string as DICOM writes it (three digits, a leading zero, Y) run into the text after it ("070YMI1.1"
    # of "070Y MI 1.1"), or with digits read as their look-alike letters ("DB2Y" of "082Y")
    ("age", re.compile(r"(?<![\w.])0\d{2}Y(?!\d)")),
    ("age", re.compile(r"(?<![\w.])(?=[DOB]*\d)[\dDOB]{3}Y(?![A-Z0-9])")),
    # the unit read in look-alikes ("34VRE", "49 YES")
    ("age", re.compile(r"(?<![\w.])\d{1,3}\s*(?:[YV]R[S5EG]|YE[S5])(?![A-Z])")),
    # ... Y as T or V and R as P ("54 TRS", "39 VP5"), a digit of the number as S ("3SYRS" of "35 YRS"); not "TR5"
    # with its number run on ("2 TR500": a repetition time)
    ("age", re.compile(r"(?<![\w.])\d{1,3}\s*(?:[YVT][RP][S5])(?![A-Z0-9])")),
    ("age", re.compile(r"(?<![\w.])\d[\dS]{0,2}\s*YRS(?![A-Z])")),
    # the unit of an age whose number was not read: it goes, and the removal follows the row to the number
    ("age", re.compile(r"(?<![A-Z0-9])(?:YRS|YEARS|YR)(?![A-Z])")),  # (its S lost too: "YR" of "33 YRS")
    ("age", re.compile(r"(?<![\w.])\d{1,3}\s*Y\s*[MF](?![\w])")),
    # ... its Y read as T or V ("18T M" of "18Y M"; not a field strength's "1.5T", nor "00t M" of "W 400" read
    # upside down: a number of one or two digits that does not start with 0)
    ("age", re.compile(r"(?<![\w.])[1-9]\d?\s*[TV]\s*[MF](?![\w])")),
    # ... its number read as a look-alike letter, the three run together ("SYF" of "5Y F"; not "BY F." of a label)
    ("age", re.compile(r"(?<![\w.])[\dSB]{0,2}[SB]Y[MF](?![\w])")),
    # (not a page or series count whose P was lost: "age 1/3" of "Page 1/3")
    ("age", re.compile(r"(?<![A-Z])AGE\s*:?\s*\d{1,3}(?![\d.]|/\d)")),
    # ... its number a one read as a stroke ("Age!" of "Age 1")
    ("age", re.compile(r"(?<![A-Z])AGE\s*:?\s*[!|](?![\w.])")),
    # its label misread in look-alikes ("Aq= 59", "A9B 32"): A, then G and E as they are misread, then a number
    ("age", re.compile(r"(?<![A-Z0-9])A[GQ96][E3B=F]\s*[:=]?\s*\d{1,3}(?![\d.]|/\d)")),
    ("digits", re.compile(r"\d{6,}(?![\d%])")),  # a percentage is a setting ("200150%" of "ZOOM 150%")
    # pieces of a value that a reader split or cut (a vertical line read in parts, a line's start lost), as
    # the whole reading: a local phone number "390-4692", an area code "(618)" (with the exchange after it,
    # "646) 244"), minutes and seconds with AM/PM "49:05 AM" (or seconds alone, ".28 PM"), seconds ":12";
    # anywhere: a year and month "2003-02". (Inside a longer reading a piece is left to the rest of the line:
    # the verification's readers see the whole value where a part removed hides it.)
    ("phone", re.compile(r"^\W*\d{3}\s*-\s*\d{4}\W*$")),
    ("phone", re.compile(r"^\W*\(\s*\d{3}\s*\)\W*$")),
    # an area code in brackets and the exchange with its dash, the rest misread ("(69B) 865-90)")
    ("phone", re.compile(r"\(\s*[\dBOSIZ]{3}\s*\)\s*\d{3}\s*-\s*\d")),
    # or the area code misread beyond a look-alike, its opening bracket too ("(SU) 741-7723", "Q2)885-4326") or
    # read as a one ("10uu)605-3105"), the exchange and the line whole
    # (not a unit in brackets before a range: "TR(ms)500-1200")
    (
        "phone",
        re.compile(
            rf"(?<![\w)])(?:\(|{_L}(?=[\dA-Z]{{3}}\)))?\s*(?!(?:MS|MM|CM|HZ|KHZ|KV|MA|DB|SEC|MIN)\s*\))"
            r"[\dA-Z]{2,3}\s*\)\s*\d{3}\s*-\s*\d{4}(?!\d)"
        ),
    ),
    # ... or both brackets read as ones or strokes, the dash as a space ("16731 948 8861" of "(476) 748-8861"),
    # the opening one as a seven ("73191 438-4036" of "(319) 433-4036")
    ("phone", re.compile(rf"(?<![\w.])(?:{_L}|{_OPEN}|7)\d{{3}}(?:{_L}|{_CLOSE})\s+\d{{3}}[\s.-]+\d{{4}}(?![\w.])")),
    # an area code in brackets (or their look-alikes) with the number run into it, its spaces and dash lost
    # ("[282)4242" of "(282) 429-4142")
    ("phone", re.compile(rf"(?<![\w.]){_OPEN}\d{{3}}{_CLOSE}\d{{3,7}}(?![\w.])")),
    ("phone", re.compile(r"^\W*\(?\s*\d{3}\s*\)\s*\d{3}\W*$")),
    # the area code in brackets and the start of the exchange, the rest read apart ("(816)51" of "(816) 512-7583")
    ("phone", re.compile(r"^\W*\(\s*\d{3}\s*\)\s*\d{1,2}\W*$")),
    # the area code's closing bracket read as a look-alike, the line cut short ("252]619-168")
    ("phone", re.compile(rf"(?<![\w-])\d{{3}}\s*{_CLOSE}\s*\d{{3}}\s*-\s*\d{{2,4}}(?!\d)")),
    # a year and its month, the rest read apart; at the reading's end after a slash or dash the month's second
    # digit too ("2013/1" of "2013/12/14": no count, whose first number is never the larger; "SW 2000.5" stays)
    ("date", re.compile(rf"(?<![\d.]){_Y4}\s*(?:[-/.]\s*(?:0[1-9]|1[0-2])|[-/]\s*[1-9](?=\W*$))(?![\d])")),
    # three groups of digits joined by dashes, the first of three or four, the last cut short or lost: a phone
    # number, an identifier or a date, misread or cut at the box's edge ("546-495-23", "4003-07-"); technical
    # text joins two numbers at most ("C5-1", "2-5 MHz")
    ("id", re.compile(r"(?<![\w-])\d{3,4}\s*-\s*\d{2,4}\s*-\s*\d{0,4}(?![\w-])")),
    ("time", re.compile(r"^\W*(?:[0-5]?\d)?\s*[:.]\s*[0-5]\d\s*[AP]M\W*$")),
    ("time", re.compile(r"^\s*:\s*[0-5]\d\s*$")),
    # seconds and AM/PM, the rest read as another line ("38AM" of "2:56:38 AM"); three pairs of digits joined by
    # colons, or by plus signs read for them, whatever the digits were misread as ("83:31:53" of "03:31:53",
    # "85:37:97" of "05:37:27", "21+57+13" of "21:57:13", "8+07+56 PM"; technical text joins two numbers at
    # most: "W:L 1:1")
    ("time", re.compile(r"^\W*[0-5]\d\s*[AP]M\W*$")),
    ("time", re.compile(r"(?<![\d.:+])\d{1,2}\s?([:+])\s?\d\d\s?\1\s?\d\d(?![\d:+])")),  # (spaced: "31: 43:51")
    # a date and its time read as one word, the time run into the year ("6/26/202314:42:56"), or a day, month
    # and year run into a number before them ("PID:893342252714APR 1991")
    ("time", re.compile(r"(?<=(?:19|20)\d\d)[0-2]\d:[0-5]\d:[0-5]\d(?![\d:])")),
    ("date", re.compile(rf"(?<=\d)(?:[0-2]\d|3[01])\s*{_MON}\s*[- ,.]*\s*{_Y4}(?!\d)")),
    # a long number misread here and there ("A3052306", "4O96O59O4"): mostly digits, letters that look like them
    (
        "digits",
        re.compile(
            r"(?<![A-Z0-9])(?=(?:[A-Z]?[0-9OIlSBZ]){6,})(?=[A-Z0-9]*\d[A-Z0-9]*\d[A-Z0-9]*\d)"
            r"[A-Z]{0,2}[0-9OISBZ]{6,}(?![A-Z0-9%])"
        ),
    ),
)

# Labels after which a person's name follows, and labels after which an identifier follows.
ROLE_LABELS = (
    r"PAT(?:IENT)?\.?\s*NAME",
    r"NAME",
    r"PATIENT",
    r"PAT",
    r"PT",
    r"TECH(?:NOLOGIST|NO\S{2,6}T)?",  # (misread inside: "TechnolG!Ist")
    r"OPERATOR",
    r"OPER",
    r"SCANNED\s*BY",
    r"(?:(?:S?C)?AN)?NED\s*BY",  # its start cut off ("nedby OKON" of a vertical line read in pieces)
    r"PERFORMED\s*BY",
    r"ACQUIRED\s*BY",
    r"READ\s*BY",
    r"REPORTED\s*BY",
    r"PHYS(?:ICIAN)?",
    r"REF(?:ERRING)?\.?\s*(?:PHYS(?:ICIAN)?|DR|MD)?",
    r"DR",
    r"MR\.",
    r"MRS",
    r"MS\.",
    r"PROF",
    r"SONOGRAPHER",
    r"RADIOLOGIST",
    r"ATTENDING",
    r"NURSE",
    r"RESIDENT",
    r"USER",
)
ID_LABELS = (
    r"PAT(?:IENT)?\.?\s*ID",
    r"PID",
    r"ID",
    r"MRN",
    r"MR\s*#",
    r"ACC(?:ESSION)?\s*(?:NO|#)?",
    r"SSN",
    r"DOB",
    r"D\.O\.B",
    r"BIRTH",
    r"BORN",
    r"EXAM\s*(?:NO|#)",
    r"STUDY\s*(?:ID|NO|#)",
    r"PHONE",
    r"TEL",
)
# Letters small text is misread as ("PT:" read "P1:" or "Ft:", "by" read "ly"): a label is found in its misread forms.
_LOOK = {
    "A": "A4",
    "B": "B8L",
    "D": "D0O",
    "E": "E3",
    "G": "G6",
    "I": "I1L|",
    "L": "L1I|",
    "O": "O0QD",
    "P": "PF",
    "S": "S5",
    "T": "T1I7",
    "Z": "Z2",
}


def _loose(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if c == "M":
            out.append("(?:M|N[I1L]|RN|IVI)")
        else:
            out.append("[" + re.escape(_LOOK[c]) + "]" if c in _LOOK else c)
        i += 1
    return "".join(out)


# What ends a label: a colon and the marks small text reads it as (";", "+": "Physician+ Strauss")
_END = r"[.,:;+#=-]"
_ROLE = re.compile(r"(?<![A-Z0-9])(?:" + "|".join(_loose(p) for p in ROLE_LABELS) + r")(?![A-Z])\s*" + _END + "?")
_STRICT_ROLE = re.compile("|".join(ROLE_LABELS))
_ID = re.compile(r"(?<![A-Z0-9])(?:" + "|".join(_loose(p) for p in ID_LABELS) + r")(?![A-Z])\s*" + _END + "?")
_ID_FUSED = re.compile(r"(?<![A-Z0-9])(?:ACCESSION|PATIENTID|MRN)(?=[A-Z]{1,4}\d{3,})")
"""A long identifier label run into a value that starts with letters ("AccessionRAD80707")."""


def _mostly_letters(label: str) -> bool:
    """A label read in look-alikes is still mostly letters: "P1:" is "PT:", but "00L" of "W400L40" (a
    technical value) and "10" of "10801" are digits, not "DOB" or "ID"."""
    core = [c for c in label if c.isalnum()]
    return sum(c.isalpha() for c in core) * 2 >= len(core) > 0


_TOKEN = re.compile(r"[^\s,]+,?|,")  # a comma ends a word even with no space after it ("Smith,L.")
# Words that end a name: technical annotation that may share the row.
STOP_WORDS = frozenset(
    "W WW WL L C WC KV KVP MA MAS MM CM HZ SE IM IMG SER FR DFOV FOV TR TE TI ST SL GAIN DEPTH ZOOM AX SAG COR "
    "AP PA LAT LEFT RIGHT R".split()
)


def find_patterns(text: str) -> list[tuple[str, int, int]]:
    """(kind, start, end) of every PHI pattern in ``text``; an address over all of it as read
    (``address_extent``)."""
    up = _upper(text)
    out = []
    for kind, rx in PATTERNS:
        for m in rx.finditer(up):
            a, b = address_extent(text, m.start(), m.end()) if kind == "email" else (m.start(), m.end())
            out.append((kind, a, b))
    # an address's name part read alone, in small letters, its host cut off or read apart ("eleni.kristianseng")
    out += [("email", m.start(), m.end()) for m in _LOCAL_PART.finditer(text)]
    out += [("age", m.start(), m.end()) for m in _AGE_UNIT_ALONE.finditer(text)]
    return out


_AGE_UNIT_ALONE = re.compile(r"^\W*Y\s?[MF]\W*$")
"""An age's Y and the sex after it read alone, its number lost ("YM" of "11Y M"), in capitals as ages are written
(a stray reading in small letters, "Yf", is no age)."""


_LOCAL_PART = re.compile(r"(?<![\w.@])[a-z]{3,}[.,][a-z]{4,}(?![\w.@,])")
"""An address's name part as people's addresses are made, given name and family name joined by a dot, in small
letters (technical text is in capitals or is a unit: "mm", "bpm")."""
_ADDRESS_WORD = re.compile(r"[a-z0-9.,@_+-]*[a-z][a-z0-9.,@_+-]*")
"""A piece of an address as read, in small letters (a reader puts spaces inside one: "erik.wo jcik@nai l.org")."""


def address_extent(text: str, a: int, b: int) -> tuple[int, int]:
    """An address found at ``text[a:b]`` widened over the rest of it as read: the characters run on to it, and
    pieces in small letters a reader split off with a space, as far as the furthest with a dot (its name part's
    dot on the left, "folake.s traus s@mai 1.org"; its domain's on the right), never over a number
    ("... 5.0 mm")."""
    while a > 0 and not text[a - 1].isspace():
        a -= 1
    while b < len(text) and not text[b].isspace():
        b += 1
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    before = [w for w in words if w[1] <= a]
    after = [w for w in words if w[0] >= b]
    for side, seq in ((0, reversed(before)), (1, after)):
        edge = a if side == 0 else b
        for i, j in seq:
            piece = text[i:j]
            gap = text[j:edge] if side == 0 else text[edge:i]
            if len(gap) != 1 or not _ADDRESS_WORD.fullmatch(piece) or re.fullmatch(r"[\d.,]+", piece):
                break
            edge = i if side == 0 else j
            if "." in piece or "," in piece:
                a, b = (edge, b) if side == 0 else (a, edge)
    return a, b


def _upper(text: str) -> str:
    """Upper case with the same length (a few characters grow when upper-cased; those are kept as they are)."""
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in text).replace("\uff1a", ":")  # fullwidth colon


LETTER_LOOKALIKES = str.maketrans({"0": "O", "1": "I", "5": "S", "8": "B"})
"""Digits small text reads in place of letters ("Papadopoulo5", "TH1")."""
_IN_NAME_LOOKALIKES = LETTER_LOOKALIKES | str.maketrans({"4": "A"})
"""... and inside a word of a name, where one digit among letters is a letter misread ("KRISTIANSB4")."""


def name_like(word: str) -> bool:
    """Letters with the punctuation names carry (SMITH^JOHN, O'Brien, Smith-Ray, J., Doe,)."""
    core = word.strip(".,:;")
    return bool(core) and any(c.isalpha() for c in core) and all(c.isalpha() or c in "'^-." for c in core)


def starts_technical(word: str) -> bool:
    """Whether ``word`` starts like a value (a digit or a sign), as what follows W, L or C in "W 400 L 40"."""
    return word[:1] != "" and (word[:1].isdigit() or word[:1] in "-+:=")


FULL_STOPS = (".", "+", "*")
"""An initial's full stop as read: itself, or "+" or "*" in small text ("Tanaka T+")."""
INITIAL_EDGE = ".,:;^" + "".join(FULL_STOPS[1:])
"""What is stripped from a word to see whether it is one letter, an initial."""


def is_initial(word: str, nxt: str, technical: frozenset[str]) -> bool:
    """Whether ``word`` is one letter that can be a name's initial ("WOJCIK C", "Strauss P.", "MBEKI M 040Y"):
    not W, L or C before a number (a window: "W 400 L 40"), and not a letter before a ``technical`` word (its
    setting's name: "QUINTERO P Low") unless it is written with its full stop."""
    core = word.strip(INITIAL_EDGE).upper()
    after = nxt.strip(".,:;^").upper()
    if len(core) != 1 or not core.isalpha():
        return False
    if core in "WLC" and starts_technical(nxt):
        return False
    # written with its full stop, it is an initial whatever follows ("Nakamura T. DR F. Nakamura")
    return word.rstrip(",;")[-1:] in FULL_STOPS or not (len(after) >= 2 and after in technical)


def _capitalised(name: str) -> bool:
    """Whether a name starts with a capital, or is mostly capitals with its first letter's case misread
    ("wOJCIK J": a reader's case is least sure on the first letter); an initial read in small letters before
    it does not count ("i. Mbeki")."""
    initial = re.match(r"[a-z]\.\s*(?=[^\W\d_])", name)  # an initial in small letters ("i. Mbeki" of "L. Mbeki")
    if initial is not None:
        return _capitalised(name[initial.end() :])
    letters = [c for c in name if c.isalpha()]
    if not letters:
        return False
    return letters[0].isupper() or (len(letters) >= 3 and 3 * sum(c.isupper() for c in letters) >= 2 * len(letters))


def _one_digit_misread(word: str) -> bool:
    """A word of three letters or more with one digit that looks like a letter ("Papadopoulo5"), no other mark
    inside it: a name's letter misread, not a value ("T1", "Gn60", "C5-1")."""
    core = word.strip(".,:;")
    digits = [c for c in core if c.isdigit()]
    return (
        len(digits) == 1
        and ord(digits[0]) in _IN_NAME_LOOKALIKES
        and sum(c.isalpha() for c in core) >= 3
        and all(c.isalnum() for c in core)
        and not core[0].isdigit()
    )


def _first_letter_misread(word: str) -> bool:
    """A word of five characters or more whose first is a digit that looks like a letter, the rest letters
    ("0eline" of "Celine", "5MITH"): a name's capital misread, not a value ("1mm", "5mmSL")."""
    core = word.strip(".,:;")
    return (
        len(core) >= 5
        and ord(core[0]) in LETTER_LOOKALIKES
        and core[1:].isalpha()
        and (core[1:].islower() or core[1:].isupper())
    )


_FUSED_SETTING = re.compile(r"([^\W\d_]*[a-z])([A-Z][a-z]+)")
"""A word of a name with a capitalised word run into its end, where the case changes ("TanakaDepth", "DuboisSe:"
of "Dubois Se: 3")."""


def name_after(text: str, start: int, stop: frozenset[str] = frozenset()) -> tuple[int, int] | None:
    """The span of a person's name starting at ``start`` (up to four name-like words), or None.

    A name ends at a word with digits, or before a technical word followed by a number ("Tech: JD W 400").
    """
    toks = [m for m in _TOKEN.finditer(text, start)]
    taken: list[re.Match[str]] = []
    for k, m in enumerate(toks[:5]):
        word = m.group()
        if not name_like(word) and (_one_digit_misread(word) or _first_letter_misread(word)):
            word = word.translate(_IN_NAME_LOOKALIKES)  # "Papadopoulo5,": a letter of the name read as its look-alike
        if taken and word in ("]", "]."):  # the name's initial J read as a bracket ("Okonkwo ]")
            taken.append(m)
            break
        if not taken and word.strip(":").upper() in ("BY", "BV"):
            continue  # the end of the label ("Scanned by ADEYEMI" after SCANNED): the name follows it
        # a stroke read after the name's last letter ("ADEYEMI!", "Smith|"): the name, and it ends there
        marked = not name_like(word) and name_like(word.rstrip("!|+")) and len(word.rstrip("!|+")) >= 3
        if marked:  # (or its last letter read as a "+": "PT:Mbek+")
            word = word.rstrip("!|+")
        if not name_like(word):
            # a name run into digits ("J0C4992849798": initials misread, then an ID): its leading letters
            # or cut by a full stop ("Suss.1C50W350": a name, its initial misread, run into a window) or an equals
            # sign ("WOJCBK0EBIEDA=PID": the next label run into it)
            # (letters as read before a number come first, less a setting's word run in before its number:
            # "NAKAMURALZOOM150%")
            run = re.match(r"[^\W\d_]{3,}(?=\d{2,})", word)
            lead = run or re.match(
                r"[^\W\d_][^\W_]*?(?=\d{2,}|$|=)|[^\W\d_]{3,}(?=\.)", word.translate(LETTER_LOOKALIKES)
            )
            if lead and not taken and len(lead.group()) >= 2 and name_like(lead.group()):
                n = len(lead.group())
                if run is not None:
                    up = run.group().upper()
                    n -= next((len(up) - i for i in range(3, len(up) - 2) if up[i:] in stop), 0)
                return m.start(), m.start() + n
            # ... after the name's first words too ("F. Ferreira06:07:10": a time run into it), not a setting's
            # name run into its number ("SMITH Gn60")
            run_in = re.match(r"[^\W\d_]{3,}(?=\d)", word)
            if run_in and taken and run_in.group().upper() not in STOP_WORDS | stop:
                return taken[0].start(), m.start() + len(run_in.group())
            break
        nxt = toks[k + 1].group() if k + 1 < len(toks) else ""
        core = word.strip(".,:").upper()
        initial = bool(taken) and is_initial(word, nxt, stop)
        if core in STOP_WORDS | stop and not initial and (not nxt or starts_technical(nxt)):
            break  # "Tech: W 400", "Pt: Page 1/3": technical text after the label, no name
        bare = core.rstrip("I1L|!")
        if bare != core and len(bare) >= 3 and bare in stop and starts_technical(nxt):
            break  # ... a stroke read after its word ("ZOOMI 150%")
        if taken and not initial and core in stop:  # technical words after the name ("LUCA Page 1/3")
            break
        if lone_label(word) == "id":  # another label's word ("Pt: DOB: 5.0mm": the name was removed)
            break
        fused = _FUSED_SETTING.fullmatch(word.rstrip(".,:"))
        if fused is not None and fused.group(2).upper() in stop:
            # a setting's word run into the name's last word ("TanakaDepth 16cm"): the name ends before it
            return (taken[0] if taken else m).start(), m.start() + len(fused.group(1))
        taken.append(m)
        if len(taken) == 4 or marked:
            break
    if not taken:
        return None
    return taken[0].start(), taken[-1].end()


def ident_after(text: str, start: int, stop: frozenset[str] = frozenset()) -> tuple[int, int] | None:
    """The span of an identifier (a word with a digit) starting at ``start``, or None. Letters run into its end
    after a digit that are a technical word of ``stop`` are not part of it ("Born2/7/1937Gn 60": gain 60), nor
    is a technical letter before a number ("DOB:2005.08.12C 50")."""
    up = _upper(text)
    # (a digit misread as "+" inside it: "3+5-278-1762")
    m = re.compile(r"\s*([A-Z0-9][A-Z0-9/.\-+]*\d[A-Z0-9/.\-+]*|\d+)").match(up, start)
    if not m:
        return None
    end = m.end(1)
    if re.fullmatch(r"\d{1,3}\.\d+[A-Z]+", up[m.start(1) : end]):
        return None  # a measurement ("DOB: 5.0mm": the label's value removed, a reader joins it to a setting)
    tail = re.search(r"(?<=\d)[A-Z]+$", up[m.start(1) : end])
    if tail and run_in_technical(tail.group(), up[end:], stop):
        end -= len(tail.group())
    # a setting run into its end with its number ("8884334998ETL16"): a technical word of two letters or more,
    # and the settings run in after it ("E38605898ETL16W400")
    elif (tail := re.search(r"(?<=\d)([A-Z]+)\d+(?:[A-Z]{1,3}\d+)*$", up[m.start(1) : end])) and (
        (len(tail.group(1)) >= 2 and tail.group(1) in stop) or tail.group() in stop
    ):
        end -= len(tail.group())  # ... or a technical word with its digit ("28642515T1": a T1 sequence)
    elif (tail := _KERNEL_AT_END.search(up[m.start(1) : end])) is not None and text[end - 1].islower():
        end -= len(tail.group())  # ... or a CT reconstruction kernel ("4/21/1940B30f"; an identifier's own
        # letters are capitals: "2024567D12A" is one)
    return m.start(1), end


_KERNEL_AT_END = re.compile(r"(?<=\d)[BHDIJQ][RSV]?\d{2}[A-Z]$")
"""A CT reconstruction kernel as Siemens names it ("B30f", "Br40d", "H30s"; its last letter small), run into a
value's end."""


_DECIMAL_UNIT = re.compile(r"[.,]\d+\s*(?:MM|CM|MAS|KVP|KV|MA|HZ|KHZ|MHZ|DB|BPM|FPS|DEG)(?![A-Z])", re.IGNORECASE)
"""The fraction and unit of a setting ("5.0mm", "2.5 MHz") whose whole number a value's digits run into."""


def before_setting(text: str, start: int, end: int) -> int:
    """``end``, the end of a value at ``text[start:end]`` after a digit, moved back before that digit where it is
    the whole number of a decimal setting run on to the value ("200301165.0mm": a date, then "5.0mm"): a setting
    never starts with its decimal mark. Unchanged elsewhere, and where that digit is all of the value."""
    if end - start >= 2 and text[end - 1].isdigit() and _DECIMAL_UNIT.match(text, end):
        return end - 1
    return end


def run_in_technical(piece: str, after: str, technical: frozenset[str]) -> bool:
    """Whether ``piece``, letters run into the end of a value, is technical text that stays: a technical word of
    two letters or more ("1937Gn"), or a technical letter before a number (the "C" of "2005.08.12C 50", ``after``
    being the text that follows the piece) or before a technical word (the "P" of "404-471-8107P Low")."""
    if piece.upper() not in technical:
        return False
    if len(piece) >= 2 or re.match(r"\s+\d", after) is not None:
        return True
    word = re.match(r"\s+([^\W\d_]{2,})(?![^\W\d_])", after)
    return word is not None and word.group(1).upper() in technical


def find_labelled(text: str, stop: frozenset[str] = frozenset()) -> list[tuple[str, int, int]]:
    """("label", start, end) of the value after each role or identifier label in ``text``; a name ends before
    a word of ``stop`` (technical vocabulary)."""
    up = _upper(text)
    out: list[tuple[str, int, int]] = []

    def add_name(span: tuple[int, int] | None) -> None:  # a name no value found so far starts in
        if span is not None and not any(a <= span[0] < b for _k, a, b in out):
            out.append(("label", *span))

    for m in _ROLE.finditer(up):
        if not _mostly_letters(m.group()):
            continue
        label = m.group().strip()
        if label in stop and not _STRICT_ROLE.fullmatch(label):
            continue  # misread into a technical word, no colon after it: "PI" (a pulsatility index) is no "PT"
        span = name_after(text, m.end(), stop)
        if span is not None and len(label) <= 3 and not _capitalised(text[span[0] : span[1]]):
            if not _COMMA_INITIAL.search(text[span[0] : span[1]]):
                continue  # "Pat ient": a short label without its colon needs a capitalised name after it
            # unless the name is written as one ("DR quintero, E": a family name, a comma, an initial)
        if span is not None:
            out.append(("label", *span))
    for m in [*_ID.finditer(up), *_ID_FUSED.finditer(up)]:
        if not _mostly_letters(m.group()):
            continue
        span = ident_after(text, m.end(), stop)
        if span is not None:
            out.append(("label", *span))
    for m in _LONG_WORD.finditer(up):  # a role word fused with the name, or misread with no colon after it
        if m.group().lower() in stop or m.group() in stop:
            continue
        at = _fused_role(text, m.start(), m.group())
        if at is None and len(m.group()) >= 7 and misread_role(m.group(), edits=2):
            colon = _LABEL_END.match(up, m.end())  # the name starts past its colon ("Phusieian: JONES")
            at = colon.end() if colon else m.end()
        span = name_after(text, at, stop) if at is not None else None
        if at is None and misread_role(m.group(), first=True) and _spaced_label(text, m.start(), m.end()):
            # a shorter role word with one letter misread and no colon ("Nane TANAKA"): its first letter
            # right ("SAME DAY" is no NAME) and before a capitalised word, as a label stands
            span = name_after(text, m.end(), stop)
            if span is not None and not text[span[0]].isupper():
                span = None
        add_name(span)
    # a role label misread beyond its look-alikes ("Nane:", "Teah:")
    for m in _COLON_WORD.finditer(up):
        if misread_role(m.group(1)) or misread_long_role(m.group(1)):
            add_name(name_after(text, m.end(), stop))
        elif len(m.group(1)) >= 6 and any(
            len(r) >= 7 and r[0] == m.group(1)[0] and within_edits(m.group(1), r, 2) for r in ROLE_WORDS
        ):
            # a long role word two letters off ("Pafent:" of "Patient:"), its first letter right: a capitalised
            # name after it
            span = name_after(text, m.end(), stop)
            if span is not None and _capitalised(text[span[0] : span[1]]):
                add_name(span)
    for m in _SPLIT_COLON_WORD.finditer(up):  # "Sono grapher: TFB"
        joined = m.group(1) + m.group(2)
        if joined in ROLE_WORDS or misread_role(joined) or misread_long_role(joined):
            add_name(name_after(text, m.end(), stop))
    # "<something> by": who did it follows, however the verb was misread ("Sumoed by Faulo Moretti",
    # "vowed by ADEYEMI", "Sranned by:"), also with its space lost after a verb's "-ed" ("Performedbv_E.Tanaka")
    for m in _BY_WORD.finditer(up):
        add_name(name_after(text, m.end(), stop))
    for m in _PT_LOST.finditer(up):  # "Pt:" with a letter lost ("P: OKONKWO", "T:PERREIRAF"): a capitalised name
        span = name_after(text, m.end(), stop)
        if span is not None and text[span[0]].isupper() and sum(c.isalpha() for c in text[span[0] : span[1]]) >= 3:
            add_name(span)
    tail = _TAIL_WORD.match(up)  # a reading that starts inside its label ("tor: KRISTIANSEN" of "Operator:")
    if tail and any(r.endswith(tail.group(1)) and r != tail.group(1) for r in ROLE_WORDS):
        span = name_after(text, tail.end(), stop)
        # two letters of a label's end ("ch: Hiroshi woic" of "Tech:") only before a name starting with a capital
        if span is not None and (len(tail.group(1)) >= 3 or text[span[0]].isupper()):
            add_name(span)
    return out


def _spaced_label(text: str, start: int, end: int) -> bool:
    """Whether the word at ``start``..``end`` stands alone as a label does: written in capitals or with a
    capital first, and followed by a space."""
    word = text[start:end]
    return end < len(text) and text[end] == " " and (word.isupper() or word[:1].isupper() and word[1:].islower())


_COLON_WORD = re.compile(r"(?<![A-Z0-9])([A-Z]{4,12})\s*[:;+]")
_SPLIT_COLON_WORD = re.compile(r"(?<![A-Z0-9])([A-Z]{2,8}) ([A-Z]{2,9})\s*[:;]")
_BY_WORD = re.compile(
    r"(?:(?<![A-Z0-9])(?:[A-Z]{3,}\s+B[YV]|[A-Z]{2,}EDB[YV]|[A-Z]{2,}\s?ED\s*B(?=\s))(?![A-Z0-9])"
    r"|(?<![A-Z])[A-Z]{3,}\s*B[YV]\s*:)[\s:_]*"
)
_TAIL_WORD = re.compile(r"\W*([A-Z]{2,8})\s*:")
_COMMA_INITIAL = re.compile(r"[A-Za-z]{3,}\s*,\s*[A-Z]\.?$")
_PT_LOST = re.compile(r"(?<![A-Z0-9])[PT]\s*:\s*")
_LONG_WORD = re.compile(r"(?<![A-Z0-9])[A-Z]{4,}")
_LABEL_END = re.compile(r"\s*" + _END + "?")


FUSED_SHORT_LABELS = ("PHYS",)
"""Abbreviated role words that, like the role words, start a name run into them where the case changes at the
join ("PhysStrauss"); not role words themselves (a misread or a word ending in one would then be a label)."""


def _fused_role(text: str, start: int, word: str) -> int | None:
    """Where the name starts in a token that is a role word run into the name ("PERATORNAKAMURA": OPERATOR
    with its first letter lost at the box's edge; "TechJAL"), or None. A short role word counts only where the
    case changes at the join, so "TECHNIQUE" is no technologist; so do the short labels Pt and Dr ("PtDUBOISE",
    "DrSmith"), written with a capital and a small letter, and Ref with two."""
    if (
        word[:2] in ("PT", "DR")
        and len(word) >= 5
        and text[start].isupper()
        and text[start + 1].islower()
        and text[start + 2].isupper()
    ):
        return start + 2
    # "Ref" so too, its vowel misread ("RofFERREIRA"), before a name of four capitals or more
    if word[:1] == "R" and word[2:3] == "F" and len(word) >= 7 and text[start + 1 : start + 3].islower():
        if text[start].isupper() and text[start + 3 : start + 7].isupper():
            return start + 3
    if len(word) >= 9 and (at := _fused_misread_role(text, start, word)) is not None:
        return at
    for r in (*ROLE_WORDS, *FUSED_SHORT_LABELS):
        for cut in (r, r[1:]):
            rest = len(word) - len(cut)
            # the name may start with its initial ("OPERATORL.Smith": the initial and its full stop)
            initial = rest == 1 and text[start + len(word) : start + len(word) + 1] == "."
            if len(cut) < 4 or not word.startswith(cut) or (rest < 2 and not initial):
                continue
            j = start + len(cut)
            if len(cut) >= 7 or (text[j - 1].islower() and text[j].isupper()):
                return j
    return None


def _fused_misread_role(text: str, start: int, word: str) -> int | None:
    """Where the name starts in a role word of seven letters or more, one letter misread or dropped, run into a
    name in capitals ("TechnologisPAPADOPOULOS"): only where the case changes at the join, from the label's small
    letters to the name's capitals, three letters or more of them (not a letter added: "PatientsDOSE")."""
    for r in ROLE_WORDS:
        if len(r) < 7:
            continue
        for n in (len(r) - 1, len(r)):
            j = start + n
            if len(word) - n < 3 or not (text[j - 1].islower() and text[j : j + 3].isupper()):
                continue
            if text[start].isupper() and within_edits(word[:n], r, 1):
                return j
    return None


ROLE_WORDS = (
    "NAME",
    "TECH",
    "PATIENT",
    "OPERATOR",
    "PHYSICIAN",
    "TECHNOLOGIST",
    "SONOGRAPHER",
    "RADIOLOGIST",
    "PERFORMED",
    "SCANNED",
    "REFERRING",
    "ATTENDING",
)


def fused_label_or_setting(word: str, technical: frozenset[str]) -> bool:
    """Whether ``word`` (a token of letters) is no piece of a name but text run together without its space: a
    setting's letter and word ("PLOW" of "P Low"), or anything ending in a role word ("PLOWPATIENT": the label
    before the name, a setting run into it)."""
    up = word.upper()
    if any(len(up) > len(r) and up.endswith(r) for r in ROLE_WORDS):
        return True
    # split where the second word keeps three letters or more ("P" + "LOW")
    return len(up) >= 4 and any(up[:i] in technical and up[i:] in technical for i in range(1, len(up) - 2))


def misread_role(word: str, edits: int = 1, first: bool = False) -> bool:
    """Whether ``word`` (upper case, before a colon) is a role word of four letters or more with one letter
    misread, dropped or added: a word and a colon is how a label looks, so one error is allowed. ``edits`` of 2
    or more: a long word (seven letters or more) with that many errors, for a label read without its colon or
    standing alone. ``first``: the first letter must be right (one error only)."""
    if edits > 1:
        return any(len(r) >= 7 and within_edits(word, r, edits) for r in ROLE_WORDS)
    for r in ROLE_WORDS:
        if abs(len(word) - len(r)) > 1 or (first and word[:1] != r[:1]):
            continue
        if len(word) == len(r):
            if sum(a != b for a, b in zip(word, r, strict=True)) <= 1:
                return True
            continue
        short, long_ = (word, r) if len(word) < len(r) else (r, word)
        if any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_))):
            return True
    return False


def misread_long_role(word: str) -> bool:
    """Whether ``word`` (upper case, before a colon) is a role word of nine letters or more misread in up to a
    third of its letters, its first letter right ("SONOGNPHAR", "SONOGAPLSER": three edits from SONOGRAPHER; the
    nearest technical words are six or more: REFERENCE is four from REFERRING)."""
    return len(word) >= 9 and any(
        len(r) >= 9 and word[0] == r[0] and within_edits(word, r, len(r) // 3) for r in ROLE_WORDS
    )


# A person's name in the forms names are written in, with or without a label (whose reading may be lost):
# "Smith, K." (a family name, a comma, an initial), "K. Mackenzie" / "K. MACKENZIE" (an initial, a family name),
# "MACKENZIE E" (a family name in capitals and an initial, ending the line) after a label's colon (alone, a
# misreading makes it: "AURIS F." of "Angle 60"). Technical words never count as the family name ("L. Spine").
_NAME_FORMS = (
    re.compile(r"(?<![\w.])([A-Z][A-Za-z'\-]{2,})\s*,\s*([A-Z])\.?(?!\w)"),
    re.compile(r"(?<![\w.])([A-Z])\.\s*([A-Z][a-z'\-]{2,}|[A-Z]{3,})(?!\w)"),
    re.compile(r"(?<=:)\s*([A-Z]{4,})\s([A-Z])\.?(?=\s*$)"),
)


def find_name_forms(text: str, stop: frozenset[str] = frozenset()) -> list[tuple[str, int, int]]:
    """("name", start, end) of each name written as in ``_NAME_FORMS``; a family name in ``stop`` (technical
    vocabulary) or ``STOP_WORDS`` does not count."""
    out = []
    for rx in _NAME_FORMS:
        for m in rx.finditer(text):
            family = next(g for g in m.groups() if len(g) > 1).upper()
            if family not in stop and family not in STOP_WORDS:
                out.append(("name", m.start(1), m.end()))
    return out


_AGE_RUN_IN = re.compile(r"(?<![\w.])(\d{1,3}\s?(?:Y\s?[MF]|YRS|YEARS))([A-Z]{2,})")


def find_run_in_ages(text: str, stop: frozenset[str] = frozenset()) -> list[tuple[str, int, int]]:
    """("age", start, end) of an age and its sex, or an age in years, with a technical word of ``stop`` run into
    its end ("14YFAngle60ThkSmm" of "14Y F Angle 60 Thk 3mm", "64 YRSWF 120Hz": the spaces lost, so no age form
    ends where it should)."""
    out = []
    for m in _AGE_RUN_IN.finditer(_upper(text)):
        rest = m.group(2)
        if any(rest[:k] in stop for k in range(2, len(rest) + 1)):
            out.append(("age", m.start(1), m.end(1)))
    return out


# A label on its own ("Dr.", "Name:", "ID#"): OCR often splits it from the value that follows on the same line.
LABEL_ONLY = re.compile(
    r"\s*(?:" + "|".join(ROLE_LABELS + ID_LABELS) + r")\s*" + _END + r"?\s*(?:NAME|ID|NO|#)?\s*[.:;#]?\s*"
)


def is_label_only(text: str) -> bool:
    """Whether ``text`` is a PHI label with no value (the value is then the next line to its right)."""
    return bool(LABEL_ONLY.fullmatch(_upper(text)))


def is_role_label(text: str) -> bool:
    """Whether a lone label announces a person's name (rather than an identifier)."""
    return bool(re.fullmatch(r"\s*(?:" + "|".join(ROLE_LABELS) + r")\s*" + _END + r"?\s*", _upper(text)))


_LONE_WORD = re.compile(r"\s*([A-Z][A-Z ]*[A-Z])\s*([.:;]?)\s*(?:B[YV4][T:]?\s*:?)?\s*")


def lone_label(text: str) -> str | None:
    """What a line read on its own announces: ``"role"`` (a person's name follows), ``"id"`` (an identifier),
    or None. Besides the labels themselves, a line that is only a role word misread ("Paient:", "Nane",
    "Technclcgiet", "So no gra phg", "Seanned b4t") or its end ("ysician" of "Physician:"): standing alone, a
    word that close to a role word is the label, as the line beside it shows. One error in four letters
    (the first letter right when there is no colon), two from seven, three from twelve."""
    if is_label_only(text):
        return "role" if is_role_label(text) else "id"
    m = _LONE_WORD.fullmatch(_upper(text))
    if m is None:
        return None
    word, colon = m.group(1).replace(" ", ""), bool(m.group(2))
    if len(word) < 4 or (m.group(1).count(" ") > 3):
        return None
    edits = 3 if len(word) >= 12 else 2 if len(word) >= 7 else 1
    return "role" if misread_role(word, edits, first=not colon) else None
