use super::*;

fn texts(args: &[Arg]) -> Vec<(&str, bool)> {
    args.iter().map(|a| (a.text.as_str(), a.quoted)).collect()
}

#[test]
fn split_args_takes_quoted_and_bare_parameters() {
    let args = split_args("0,\"a,b\", 60 ,\"\"");
    assert_eq!(
        texts(&args),
        [("0", false), ("a,b", true), ("60", false), ("", true)]
    );
    assert_eq!(texts(&split_args("")), [("", false)]);
}

#[test]
fn int_checks_its_range_and_opt_int_its_default() {
    let args = split_args("5,x,,-1");
    assert_eq!(int(&args, 0, 0, 5), Some(5));
    assert_eq!(int(&args, 0, 0, 4), None);
    assert_eq!(int(&args, 1, 0, 9), None);
    assert_eq!(int(&args, 9, 0, 9), None);
    assert_eq!(opt_int(&args, 2, 0, 1, 1), Some(1));
    assert_eq!(opt_int(&args, 9, 0, 1, 0), Some(0));
    assert_eq!(opt_int(&args, 3, 0, 1, 0), None);
    assert_eq!(num(&args, 3), Some(-1));
}

#[test]
fn strict_split_refuses_stray_and_open_quotes() {
    let args = split_args_strict("\"pk\", 3 ,\" a b \"", false).expect("valid line");
    assert_eq!(texts(&args), [("pk", true), ("3", false), (" a b ", true)]);
    assert!(split_args_strict("\"a\"bc\"", false).is_none());
    assert!(split_args_strict("\"open", false).is_none());
}

#[test]
fn strict_split_takes_escaped_quotes_only_when_asked() {
    let args = split_args_strict(r#""t","say \"hi\" \n",5"#, true).expect("valid line");
    assert_eq!(
        texts(&args),
        [("t", true), (r#"say "hi" \n"#, true), ("5", false)]
    );
    assert!(split_args_strict(r#""say \"hi\"""#, false).is_none());
    assert!(split_args_strict("\"end\\", true).is_none());
}

#[test]
fn strict_parameters_check_quoting_and_length() {
    let args = split_args_strict("\"5\",5,\"\",\"abcd\"", false).expect("valid line");
    assert_eq!(int_arg(&args, 0, 0, 9), None);
    assert_eq!(int_arg(&args, 1, 0, 9), Some(5));
    assert_eq!(int_arg(&args, 1, 6, 9), None);
    assert_eq!(str_arg(&args, 2, 9), None);
    assert_eq!(str_arg(&args, 3, 3), None);
    assert_eq!(str_arg(&args, 3, 4).as_deref(), Some("abcd"));
    assert_eq!(str_arg(&args, 1, 9), None);
    assert_eq!(quoted_arg(&args, 2).as_deref(), Some(""));
    assert_eq!(quoted_arg(&args, 1), None);
}

#[test]
fn resp_frames_lines_prompts_and_later_urcs() {
    let mut r = Resp::default();
    r.answer("+CSQ: 23,0");
    r.prompt();
    r.prompt_space();
    r.raw(b"x");
    r.error();
    r.urc_after("+CMQTTSTART: 0".to_owned());
    assert_eq!(
        r.buf,
        b"\r\n+CSQ: 23,0\r\n\r\nOK\r\n\r\n>\r\n> x\r\nERROR\r\n"
    );
    assert_eq!(r.after, ["+CMQTTSTART: 0"]);
}
